"""MCP servers behind a real tool runner, called the way the agent calls: a tool client on NATS.

The server is ``tests/fakes/mcp_server.py`` (the official ``mcp`` SDK), a real process each
time: spawned by the runner over stdio, or a uvicorn process the test starts for streamable
HTTP. What it saw of a cancel it writes to ``MCP_FAKE_DIR``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest

from services.agent.catalog import ToolCatalog, gather_tools
from services.agent.toolclient import ToolCallError, ToolClient
from services.tools.bus import ToolRunnerNode
from shared.wire.tools import ToolCallRequest
from tests.component.tools.conftest import StartRunner, UserEvents

Client = nats.aio.client.Client
REPO = Path(__file__).resolve().parents[3]
SERVER = [sys.executable, "-m", "tests.fakes.mcp_server"]

both_transports = pytest.mark.parametrize("transport", ["stdio", "http"])


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One streamable-HTTP MCP server for the module: its URL and its notes directory."""
    notes = tmp_path_factory.mktemp("mcp-http")
    process, url = start_http_server(notes)
    try:
        yield url, notes
    finally:
        stop_http_server(process)


def start_http_server(notes: Path, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """A streamable-HTTP MCP server process, once it listens, and its URL."""
    args = [*SERVER, "http", *(["--port", str(port)] if port else [])]
    env = {**os.environ, "MCP_FAKE_DIR": str(notes)}
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # "port N" once it listens
    assert line.startswith("port "), line
    return process, f"http://127.0.0.1:{int(line.split()[1])}/mcp"


def stop_http_server(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def server(
    transport: str, request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[dict[str, Any], Path]:
    """The ``fake`` server's MCP_SERVERS entry for this transport, and where it notes things."""
    if transport == "http":
        url, notes = request.getfixturevalue("http_server")
        return {"url": url}, notes
    command = [*SERVER, "stdio"]
    return {"command": command, "cwd": str(REPO), "env": {"MCP_FAKE_DIR": str(tmp_path)}}, tmp_path


@pytest.fixture
async def runner(start_runner: StartRunner, server: tuple[dict[str, Any], Path]) -> ToolRunnerNode:
    return await start_runner(
        MCP_SERVERS=json.dumps({"fake": server[0]}),
        MCP_PROBE_INTERVAL_S="0.3",
        PROGRESS_FLUSH_MS="10",
    )


@pytest.fixture
async def tools(nc: Client) -> AsyncIterator[ToolClient]:
    client = ToolClient(nc, timeout_s=5, heartbeat_timeout_s=5)
    yield client
    await client.close()


Call = Callable[..., Awaitable[Any]]


@pytest.fixture
def call(tools: ToolClient, user_id: str) -> Call:
    async def call(name: str, tool_call_id: str | None = None, **parameters: Any) -> Any:
        request = ToolCallRequest(
            user_id=user_id,
            run_id=uuid.uuid4().hex,
            thread_id=uuid.uuid4().hex,
            tool_call_id=tool_call_id or uuid.uuid4().hex,
            tool_name=name,
            parameters=parameters,
        )
        return (await tools.call(request)).result

    return call


async def failure(calling: Awaitable[Any]) -> ToolCallError:
    with pytest.raises(ToolCallError) as caught:
        await calling
    return caught.value


@both_transports
async def test_mcp_tools_join_the_catalog_as_server__tool_with_their_schemas(
    runner: ToolRunnerNode, nc: Client
) -> None:
    specs = {spec.name: spec for spec in await ToolCatalog(nc).tools()}

    assert {"fake__add", "fake__count", "fake__wait", "fake__refuse"} <= set(specs)
    assert "analyze_performance" in specs  # the built-in tools stay
    assert not any("bad" in name for name in specs)  # "bad.name" is no subject token: skipped
    add = specs["fake__add"]
    assert add.description == "Add two integers."
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.parameters["required"] == ["a", "b"]


@both_transports
async def test_a_call_returns_the_servers_result_and_the_user_sees_it_run(
    runner: ToolRunnerNode, call: Call, events: UserEvents
) -> None:
    assert await call("fake__add", a=2, b=3) == {"sum": 5}  # structuredContent
    assert await call("fake__echo", text="hi") == {"result": "hi"}

    _, executing = await events.next()
    _, completed = await events.next()
    assert executing["type"] == "tool_executing"
    assert executing["data"]["tool_name"] == "fake__add"
    assert executing["data"]["parameters"] == {"a": 2, "b": 3}
    assert completed["type"] == "tool_completed"
    assert completed["data"]["result"] == {"sum": 5} and "error" not in completed["data"]


@both_transports
async def test_progress_notifications_arrive_as_tool_progress_between_the_two_events(
    runner: ToolRunnerNode, call: Call, events: UserEvents
) -> None:
    assert await call("fake__count", steps=4, delay_s=0.1) == {"result": "counted to 4"}

    seen = [await events.next_any() for _ in range(6)]
    types = [event["type"] for _, event in seen]
    assert types[0] == "tool_executing" and types[-1] == "tool_completed"
    progress = [event["data"] for _, event in seen if event["type"] == "tool_progress"]
    assert len(progress) == 4, types
    assert [p["progress"] for p in progress] == [0.25, 0.5, 0.75, 1.0]
    assert progress[0]["message"] == "step 1 of 4"


@both_transports
async def test_a_cancelled_call_ends_cancelled_and_the_server_sees_the_cancel(
    runner: ToolRunnerNode,
    call: Call,
    tools: ToolClient,
    events: UserEvents,
    server: tuple[dict[str, Any], Path],
) -> None:
    notes, tag, call_id = server[1], uuid.uuid4().hex, uuid.uuid4().hex
    calling = asyncio.ensure_future(call("fake__wait", tool_call_id=call_id, tag=tag))
    await until(lambda: (notes / f"started-{tag}").exists())

    assert await tools.cancel(call_id)

    assert (await failure(calling)).code == "cancelled"
    await until(lambda: (notes / f"cancelled-{tag}").exists())  # notifications/cancelled
    _, _executing = await events.next()
    _, completed = await events.next()
    assert completed["data"]["error"]["code"] == "cancelled"


@both_transports
async def test_mcp_errors_become_tool_error_codes(
    runner: ToolRunnerNode, call: Call, events: UserEvents
) -> None:
    refused = await failure(call("fake__refuse", path="/nope"))
    assert refused.code == "tool_failed" and "no such file: /nope" in refused.message
    _, _executing = await events.next()
    _, completed = await events.next()
    assert completed["data"]["error"]["code"] == "tool_failed"
    assert "no such file: /nope" in completed["data"]["error"]["message"]

    crashed = await failure(call("fake__crash"))  # a JSON-RPC error
    assert crashed.code == "tool_failed" and "the fake server broke" in crashed.message
    picky = await failure(call("fake__picky", value=3))  # JSON-RPC invalid params
    assert picky.code == "invalid_parameters" and "value 3" in picky.message

    # Refused against the tool's schema before it runs: no events, as for a built-in tool.
    wrong = await failure(call("fake__add", a="two", b=3))
    assert wrong.code == "invalid_parameters" and "'two' is not of type 'integer'" in wrong.message


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait until ``condition()`` holds, checking every 20 ms; fail after ``timeout_s``."""
    for _ in range(int(timeout_s / 0.02)):
        held = condition()
        if await held if inspect.isawaitable(held) else held:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout_s:g}s")


@pytest.mark.parametrize("transport", ["stdio"])
async def test_a_server_that_dies_loses_its_tools_until_the_runner_reconnects(
    runner: ToolRunnerNode, call: Call, nc: Client
) -> None:
    died = await failure(call("fake__die"))
    assert died.code == "tool_unavailable" and "'fake'" in died.message

    async def names() -> set[str]:
        return {spec.name for spec in await gather_tools(nc)}

    await until(lambda: _lacks("fake__add", names()), timeout_s=5)  # withdrawn once noticed
    assert "analyze_performance" in await names()
    unserved = await failure(call("fake__add", a=1, b=1))
    assert unserved.code == "tool_unavailable"

    # The runner starts the server again (backoff from 0.5 s).
    await until(lambda: _has("fake__add", names()), timeout_s=15)
    assert await call("fake__add", a=1, b=1) == {"sum": 2}


async def test_a_server_down_at_start_leaves_the_runner_serving_its_other_tools(
    start_runner: StartRunner, call: Call, nc: Client
) -> None:
    down = {"gone": {"url": "http://127.0.0.1:9/mcp"}}  # the discard port: refused at once
    await start_runner(MCP_SERVERS=json.dumps(down))

    names = {spec.name for spec in await gather_tools(nc)}
    assert "analyze_performance" in names and not any(n.startswith("gone__") for n in names)
    assert (await failure(call("gone__anything"))).code == "tool_unavailable"


async def _has(name: str, names: Awaitable[set[str]]) -> bool:
    return name in await names


async def _lacks(name: str, names: Awaitable[set[str]]) -> bool:
    return name not in await names


async def test_a_call_over_its_time_limit_ends_tool_timeout_and_the_server_is_told(
    start_runner: StartRunner,
    call: Call,
    http_server: tuple[str, Path],
    events: UserEvents,
) -> None:
    url, notes = http_server
    await start_runner(
        # With headers the runner brings its own HTTP client: the same server, reached the same.
        MCP_SERVERS=json.dumps({"fake": {"url": url, "headers": {"X-Agentwire-Test": "1"}}}),
        TOOL_TIMEOUT_OVERRIDES="fake__wait=0.5",  # an MCP tool's limit, set like any other's
    )
    tag = uuid.uuid4().hex

    timed_out = await failure(call("fake__wait", tag=tag))

    assert timed_out.code == "tool_timeout" and "0.5s" in timed_out.message
    await until(lambda: (notes / f"cancelled-{tag}").exists())
    _, _executing = await events.next()
    _, completed = await events.next()
    assert completed["data"]["error"]["code"] == "tool_timeout"


async def test_an_http_server_that_stops_loses_its_tools_until_it_is_back(
    start_runner: StartRunner, call: Call, nc: Client, tmp_path: Path
) -> None:
    process, url = start_http_server(tmp_path)
    try:
        await start_runner(
            MCP_SERVERS=json.dumps({"web": {"url": url}}), MCP_PROBE_INTERVAL_S="0.2"
        )
        assert await call("web__add", a=1, b=2) == {"sum": 3}

        stop_http_server(process)

        async def names() -> set[str]:
            return {spec.name for spec in await gather_tools(nc)}

        await until(lambda: _lacks("web__add", names()), timeout_s=5)  # the probe noticed
        process, _ = start_http_server(tmp_path, port=int(url.split(":")[2].split("/")[0]))
        await until(lambda: _has("web__add", names()), timeout_s=15)
        assert await call("web__add", a=2, b=2) == {"sum": 4}
    finally:
        if process.poll() is None:
            stop_http_server(process)


def test_a_malformed_mcp_servers_stops_the_process_with_exit_2_naming_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.tools"],
        env={**os.environ, "NATS_URL": "nats://127.0.0.1:9", "MCP_SERVERS": '{"files": {}}'},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "MCP_SERVERS" in done.stderr and "'files'" in done.stderr
