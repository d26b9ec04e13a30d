"""What an operator sees, through real processes: metrics, one trace per message, JSON logs,
NATS discovery, and readiness that follows NATS.

One stack for the module, with tracing on (to an OTLP/HTTP receiver this test runs), JSON logs,
and the agent's and tool runner's listeners on free ports. The readiness test stops nats-server,
so it runs last.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families

from devstack.natsd import free_port
from devstack.stack import Stack
from shared.bus import EventPublisher
from shared.wire import events
from tests.integration.client import connect, new_account, read_run, recv_json, send
from tests.integration.conftest import LogSink

pytestmark = pytest.mark.integration

QUESTION = "Why is the api slow this week?"


class OtlpReceiver:
    """A real OTLP/HTTP endpoint: decodes each protobuf export and keeps its spans."""

    def __init__(self) -> None:
        self.spans: list[dict[str, str]] = []
        spans = self.spans

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                export = ExportTraceServiceRequest.FromString(body)
                for resource_spans in export.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in resource_spans.resource.attributes
                        if a.key == "service.name"
                    )
                    for scope in resource_spans.scope_spans:
                        for span in scope.spans:
                            spans.append(
                                {
                                    "service": service,
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                }
                            )
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("observed")
    ports = {"AGENT_HTTP_PORT": str(free_port()), "TOOLS_HTTP_PORT": str(free_port())}
    running = Stack(
        data_dir=data_dir,
        sink=LogSink(data_dir),
        extra_env={
            "THINK_DELAY_S": "0.01",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
            "SEND_QUEUE_MAX_BYTES": str(256 * 1024),  # a non-reading client is cut off sooner
            **ports,
        },
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _port(stack: Stack, variable: str) -> int:
    return int(stack.extra_env[variable])


def _agent(stack: Stack, path: str) -> str:
    return f"http://127.0.0.1:{_port(stack, 'AGENT_HTTP_PORT')}{path}"


def _tools(stack: Stack, path: str) -> str:
    return f"http://127.0.0.1:{_port(stack, 'TOOLS_HTTP_PORT')}{path}"


async def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def _eventually(check: Callable[[], Any], within_s: float = 10.0) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        try:
            result = await check()
            assert result
            return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


COMPLETED = ("agentwire_runs_total", (("outcome", "completed"),))
DELIVERED = ("agentwire_events_delivered_total", ())


async def test_one_message_moves_the_counters_and_is_one_trace_across_the_services(
    stack: Stack, otlp: OtlpReceiver
) -> None:
    runs_before = (await _metrics(_agent(stack, "/metrics"))).get(COMPLETED, 0)
    delivered_before = (await _metrics(stack.http_url + "/metrics"))[DELIVERED]
    account = await new_account(stack.auth_url)

    async with connect(stack.ws_url, account.token) as ws:
        await send(ws, {"type": "message", "content": QUESTION})
        accepted = await recv_json(ws)
        assert accepted["type"] == "run_accepted"
        frames = await read_run(ws)
    assert frames[-1]["type"] == "agent_completed"
    events_sent = sum(1 for frame in frames if "seq" in frame)

    async def counted() -> bool:
        agent = await _metrics(_agent(stack, "/metrics"))
        gateway = await _metrics(stack.http_url + "/metrics")
        assert agent[COMPLETED] - runs_before == 1
        assert gateway[DELIVERED] - delivered_before == events_sent
        return True

    await _eventually(counted)

    trace_id = accepted["trace_id"]
    assert len(trace_id) == 32

    async def traced() -> bool:
        spans = [span for span in otlp.spans if span["trace_id"] == trace_id]
        services = {span["service"] for span in spans}
        assert services == {"agentwire-ws-gateway", "agentwire-agent", "agentwire-tools"}
        names = [span["name"] for span in spans]
        assert {"send RUNS", "process RUNS", "invoke_agent infra_analyst"} <= set(names)
        assert names.count("process live.user.*.events") == 2  # the run's first and last events
        calls = [(s["service"], s["name"]) for s in spans if s["name"].startswith("execute_tool")]
        assert {service for service, _ in calls} == {"agentwire-agent", "agentwire-tools"}
        return True

    await _eventually(traced)

    lines = _json_lines(Path(stack.data_dir) / "agent.log")
    mine = [line for line in lines if line.get("run_id") == accepted["run_id"]]
    assert mine and all(line["service"] == "agent" for line in mine)
    assert any(line.get("trace_id") == trace_id for line in mine)
    assert any(line.get("run_id") == accepted["run_id"] for line in _tools_lines(stack))


def _json_lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for raw in path.read_text().splitlines():
        if raw.startswith("{"):
            found.append(json.loads(raw))
    return found


def _tools_lines(stack: Stack) -> list[dict[str, Any]]:
    return _json_lines(Path(stack.data_dir) / "tools.log")


async def test_a_client_that_stops_reading_is_counted_as_a_4008_close(stack: Stack) -> None:
    slow = ("agentwire_socket_closes_total", (("code", "4008"),))
    before = (await _metrics(stack.http_url + "/metrics")).get(slow, 0)
    account = await new_account(stack.auth_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", stack.gateway_port))
    ws = await connect(stack.ws_url, account.token, sock=sock, max_queue=1, compression=None)
    await send(ws, {"type": "ping"})
    assert (await recv_json(ws))["type"] == "pong"

    nc = await nats.connect(stack.operator_nats_url)
    try:
        publisher = EventPublisher(nc.jetstream())
        # 7.7 MB: past the kernel's send buffer (up to 4 MiB here) and the 256 KiB backlog
        for step in range(480):
            data = events.AgentThinkingData(agent_id="a", thought="x" * 16_000, step=step)
            thinking = events.AgentThinking(run_id="slow-run", thread_id="t", data=data)
            await publisher.publish(account.user_id, thinking)
    finally:
        await nc.close()

    async def closed() -> bool:
        return (await _metrics(stack.http_url + "/metrics")).get(slow, 0) - before >= 1

    try:
        await _eventually(closed, within_s=15)
    finally:
        ws.transport.abort()  # it never reads its close frame: no handshake to wait for
        await asyncio.wait_for(ws.wait_closed(), 5)


async def test_agent_and_tools_answer_the_nats_services_api(stack: Stack) -> None:
    nc = await nats.connect(stack.operator_nats_url)
    try:
        for name in ("agentwire-agent", "agentwire-tools"):
            reply = json.loads((await nc.request(f"$SRV.PING.{name}", b"", timeout=2)).data)
            assert reply["name"] == name and reply["type"] == "io.nats.micro.v1.ping_response"
            info = json.loads((await nc.request(f"$SRV.INFO.{name}", b"", timeout=2)).data)
            assert info["metadata"]["metrics"].startswith("http://")
    finally:
        await nc.close()


async def _status(url: str) -> int:
    async with httpx.AsyncClient(timeout=3) as http:
        return (await http.get(url)).status_code


async def test_readiness_fails_while_nats_is_down_and_recovers(stack: Stack) -> None:
    urls = [_agent(stack, "/readyz"), _tools(stack, "/readyz")]
    assert [await _status(url) for url in urls] == [200, 200]
    assert stack.nats is not None
    stack.nats.stop()
    try:

        async def not_ready() -> bool:
            return [await _status(url) for url in urls] == [503, 503]

        await _eventually(not_ready)
        assert await _status(_agent(stack, "/healthz")) == 200  # alive all the same
    finally:
        stack.nats.start()

    async def ready() -> bool:
        return [await _status(url) for url in urls] == [200, 200]

    await _eventually(ready, within_s=20)
