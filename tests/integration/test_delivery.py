"""Nothing lost, nothing doubled, nothing out of order — across gateway kills, NATS restarts,
a NATS node failure, and a thousand forced reconnects. Real processes, real sockets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import websockets

from devstack.natsd import start_cluster
from devstack.stack import Stack
from shared.bus import EventPublisher
from shared.wire import events
from tests.integration.client import new_account, send
from tests.integration.conftest import LogSink
from tests.integration.resuming import ResumingReader, assert_exactly_the_stream, stored_events

pytestmark = pytest.mark.integration

SLOW_RUNS = {
    "THINK_DELAY_S": "0.3",
    "STREAM_TOKENS_PER_S": "0",
    "LOG_LEVEL": "INFO",
}  # a run lasts a few seconds


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack with its own embedded nats-server, which a test may stop and start again."""
    stack = Stack(data_dir=tmp_path, sink=LogSink(tmp_path), extra_env=SLOW_RUNS)
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def slow_stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("slow")
    stack = Stack(data_dir=data_dir, sink=LogSink(data_dir), nats_url=nats_url, extra_env=SLOW_RUNS)
    try:
        yield stack.start()
    finally:
        stack.stop()


async def start_run(ws_url: str, reader: ResumingReader, content: str) -> str:
    async with reader.open(ws_url) as ws:
        await send(ws, {"type": "message", "content": content})
        await reader.read_until(ws, lambda f: f.get("type") == "run_accepted", 10)
        return reader.others[-1]["run_id"]


async def follow_to_the_end(
    ws_url: str, reader: ResumingReader, run_id: str, timeout_s: float = 60
) -> None:
    async with reader.open(ws_url) as ws:
        await reader.read_until(
            ws, lambda f: f.get("run_id") == run_id and reader.finished(run_id), timeout_s
        )


async def test_client_moved_from_a_killed_gateway_to_another_resumes_with_zero_loss(
    slow_stack: Stack,
) -> None:
    second, second_url = slow_stack.start_gateway("ws_gateway-2")
    account = await new_account(slow_stack.auth_url)
    reader = ResumingReader(account.token)
    async with reader.open(slow_stack.ws_url) as ws:
        await send(ws, {"type": "message", "content": "latency anomalies over 7 days for the api"})
        await reader.read_until(ws, lambda f: f.get("type") == "agent_thinking", 15)
        slow_stack.services["ws_gateway"].kill()  # kill -9, mid-run
        with pytest.raises(websockets.ConnectionClosed):
            await reader.read_until(ws, lambda f: False, 10)
    run_id = reader.others[0]["run_id"]
    assert not reader.finished(run_id), "the run should still be going when its gateway dies"

    await follow_to_the_end(second_url, reader, run_id)

    assert reader.run_events(run_id)[-1]["type"] == "agent_completed"
    assert_exactly_the_stream(
        reader.events, await stored_events(slow_stack.nats_url, account.user_id)
    )
    slow_stack.start_service("ws_gateway").wait_ready()  # the module's stack gets its gateway back
    second.stop()


async def test_two_tabs_on_two_gateways_see_identical_event_lists(slow_stack: Stack) -> None:
    _, second_url = slow_stack.start_gateway("ws_gateway-3")
    account = await new_account(slow_stack.auth_url)
    tab_a, tab_b = ResumingReader(account.token), ResumingReader(account.token)
    async with tab_a.open(slow_stack.ws_url) as ws_a, tab_b.open(second_url) as ws_b:
        await send(ws_a, {"type": "message", "content": "cpu over 24h"})
        await tab_a.read_until(ws_a, lambda f: f.get("type") == "agent_completed", 30)
        await tab_b.read_until(ws_b, lambda f: f.get("type") == "agent_completed", 30)
    assert [e["seq"] for e in tab_a.events] == [e["seq"] for e in tab_b.events]
    assert tab_a.events == tab_b.events
    slow_stack.services["ws_gateway-3"].stop()


async def test_runs_complete_and_nothing_is_lost_across_a_nats_server_restart(
    own_stack: Stack,
) -> None:
    accounts = [await new_account(own_stack.auth_url) for _ in range(3)]
    readers = [ResumingReader(a.token) for a in accounts]
    run_ids = [await start_run(own_stack.ws_url, r, "memory trends over 30 days") for r in readers]

    assert own_stack.nats is not None
    own_stack.nats.stop()  # same port, same store directory: JetStream recovers the stream
    await asyncio.sleep(1.0)
    own_stack.nats.start()

    await asyncio.gather(
        *(
            follow_to_the_end(own_stack.ws_url, r, run_id, 90)
            for r, run_id in zip(readers, run_ids, strict=True)
        )
    )
    for account, reader, run_id in zip(accounts, readers, run_ids, strict=True):
        assert reader.run_events(run_id)[-1]["type"] == "agent_completed", reader.run_events(
            run_id
        )[-1]
        assert_exactly_the_stream(
            reader.events, await stored_events(own_stack.operator_nats_url, account.user_id)
        )


async def test_nothing_is_lost_when_a_node_of_a_three_node_cluster_dies(tmp_path: Path) -> None:
    nodes = start_cluster(tmp_path / "cluster")
    urls = ",".join(node.url for node in nodes)
    stack = Stack(
        data_dir=tmp_path,
        sink=LogSink(tmp_path),
        nats_url=urls,
        extra_env={**SLOW_RUNS, "EVENTS_REPLICAS": "3"},
    )
    try:
        stack.start(timeout_s=90)
        accounts = [await new_account(stack.auth_url) for _ in range(3)]
        readers = [ResumingReader(a.token) for a in accounts]
        run_ids = [await start_run(stack.ws_url, r, "error rate over 7 days") for r in readers]
        nodes[0].stop(kill=True)  # the first URL: most clients are connected to it

        await asyncio.gather(
            *(
                follow_to_the_end(stack.ws_url, r, run_id, 90)
                for r, run_id in zip(readers, run_ids, strict=True)
            )
        )
        survivors = ",".join(node.url for node in nodes[1:])
        for account, reader, run_id in zip(accounts, readers, run_ids, strict=True):
            assert reader.run_events(run_id)[-1]["type"] == "agent_completed"
            assert_exactly_the_stream(
                reader.events, await stored_events(survivors, account.user_id)
            )
    finally:
        stack.stop()
        for node in nodes:
            node.stop()


async def test_fifty_users_through_a_thousand_forced_reconnects_lose_and_double_nothing(
    slow_stack: Stack,
) -> None:
    users, cycles_per_user, events_per_user = 50, 20, 60
    accounts = await asyncio.gather(*(new_account(slow_stack.auth_url) for _ in range(users)))
    readers = {a.user_id: ResumingReader(a.token) for a in accounts}
    last_seq: dict[str, int] = {}
    pumping = asyncio.create_task(
        pump(slow_stack.nats_url, list(readers), events_per_user, last_seq)
    )
    rng = random.Random(7)

    async def churn(user_id: str, reader: ResumingReader) -> None:
        for _ in range(cycles_per_user):
            async with reader.open(slow_stack.ws_url) as ws:
                try:
                    await reader.read_until(ws, lambda f: False, rng.uniform(0.05, 0.4))
                except TimeoutError:
                    pass
                ws.transport.abort()  # forced: no close handshake
        while not pumping.done() or reader.last_seq < last_seq[user_id]:
            async with reader.open(slow_stack.ws_url) as ws:
                try:
                    await reader.read_until(
                        ws, lambda f: pumping.done() and reader.last_seq >= last_seq[user_id], 5
                    )
                except TimeoutError:
                    pass

    async with asyncio.timeout(240):
        await asyncio.gather(*(churn(u, r) for u, r in readers.items()))
    await pumping

    assert sum(r.connects for r in readers.values()) >= users * cycles_per_user
    for user_id, reader in readers.items():
        assert_exactly_the_stream(reader.events, await stored_events(slow_stack.nats_url, user_id))


async def pump(nats_url: str, user_ids: list[str], per_user: int, last_seq: dict[str, int]) -> None:
    """Publish ``per_user`` events to every user, interleaved, over a few seconds."""
    nc = await nats.connect(nats_url)
    try:
        publisher = EventPublisher(nc.jetstream())
        for step in range(per_user):
            for user_id in user_ids:
                event = events.AgentThinking(
                    run_id="pump",
                    thread_id="pump",
                    data=events.AgentThinkingData(
                        agent_id="pump", thought=f"step {step}", step=step
                    ),
                )
                last_seq[user_id] = await publisher.publish(user_id, event)
            await asyncio.sleep(0.05)
    finally:
        await nc.close()


async def test_disconnecting_is_not_cancelling_the_run_waits_in_the_stream(
    slow_stack: Stack,
) -> None:
    account = await new_account(slow_stack.auth_url)
    reader = ResumingReader(account.token)
    run_id = await start_run(slow_stack.ws_url, reader, "latency over 24h")  # the socket closes
    await asyncio.sleep(4)  # the run goes on with no socket of its user anywhere
    await follow_to_the_end(slow_stack.ws_url, reader, run_id)
    kinds = [e["type"] for e in reader.run_events(run_id)]
    assert kinds[0] == "agent_started" and kinds[-1] == "agent_completed"
    assert_exactly_the_stream(
        reader.events, await stored_events(slow_stack.nats_url, account.user_id)
    )
