"""Stop really stops, disconnecting does not, and runs are records: real processes end to end.

Two agent processes, one tool runner, the gateway and auth; THINK_DELAY_S=1 leaves a whole second
between two thoughts, so that a cancel can land while the agent is thinking.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import msgspec
import pytest
from nats.aio.client import Client as NATS

from services.agent.closing import NEVER_STARTED
from shared import subjects
from shared.wire.events import TERMINAL_TYPES
from shared.wire.runs import CancelAccepted, RunList, RunRejected, ThreadList
from tests.component.agent.support import (
    Received,
    assert_one_run_well_formed,
    cancel,
    list_runs,
    list_threads,
)
from tests.integration.client import connect, new_account, recv_json, send
from tests.integration.test_runs_cluster import Cluster, Watch, make_cluster, started_run, watch

pytestmark = pytest.mark.integration
__all__ = ["watch"]  # a fixture, imported to be used here

CANCELLING = "cancelling"


@pytest.fixture(scope="module")
def cluster(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from make_cluster(nats_url, tmp_path_factory, THINK_DELAY_S="1.0")


def new_user() -> str:
    return f"user-{time.monotonic_ns():x}"


async def test_a_cancel_sent_right_after_the_message_still_ends_the_run_cancelled(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)

    run = await started_run(nc, user, "slow_task seconds=30 steps=30")
    reply = await cancel(nc, user, run.run_id)

    assert reply == CancelAccepted(run_id=run.run_id, state=CANCELLING)
    events = await feed.until_terminal(timeout_s=20)
    assert_one_run_well_formed(events, run.run_id)
    assert events[-1].type == "agent_cancelled"


async def test_a_run_cancelled_before_it_started_is_agent_started_then_agent_cancelled(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    first = await started_run(nc, user, "slow_task seconds=30 steps=30")
    waiting = await started_run(nc, user, "latency", thread_id=first.thread_id)  # queued

    await cancel(nc, user, waiting.run_id)
    events = await feed.until(lambda e: e.frame["run_id"] == waiting.run_id and is_end(e))
    await cancel(nc, user, first.run_id)

    mine = [e for e in events if e.frame["run_id"] == waiting.run_id]
    assert [e.type for e in mine] == ["agent_started", "agent_cancelled"]
    assert mine[0].data["message"] == NEVER_STARTED


async def test_a_cancel_while_the_agent_thinks_ends_the_run_before_any_tool(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    run = await started_run(nc, user, "why is the api slow?")
    thinking = await feed.until(lambda e: e.type == "agent_thinking", timeout_s=20)

    await cancel(nc, user, run.run_id)  # the next thought is a second away

    events = thinking + await feed.until_terminal(timeout_s=20)
    assert_one_run_well_formed(events, run.run_id)
    assert [e.type for e in events] == ["agent_started", "agent_thinking", "agent_cancelled"]


async def test_a_cancel_during_a_long_tool_call_stops_the_tool_itself(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user, label = new_user(), f"stop-{time.monotonic_ns():x}"
    feed = await watch(user)
    run = await started_run(nc, user, f"slow_task seconds=60 steps=240 label={label}")
    await feed.until(lambda e: e.type == "tool_executing", timeout_s=20)
    await until_progress(cluster, label, at_least=2)

    await cancel(nc, user, run.run_id)

    events = await feed.until_terminal(timeout_s=20)
    assert [e.type for e in events] == ["tool_completed", "agent_cancelled"]
    assert events[0].data["error"]["code"] == "cancelled"
    stopped_at = cluster.progress(label)
    await asyncio.sleep(1.0)  # four steps' worth of time: the tool takes none of them
    assert cluster.progress(label) == stopped_at < 240


async def test_someone_elses_cancel_is_refused_and_cancelling_twice_is_harmless(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    owner, intruder = new_user(), new_user()
    feed = await watch(owner)
    run = await started_run(nc, owner, "slow_task seconds=30 steps=30")
    await feed.until(lambda e: e.type == "tool_executing", timeout_s=20)

    refused = await cancel(nc, intruder, run.run_id)
    assert refused == RunRejected(code="run_not_found", message="no such run")
    quiet = await feed.quiet_for(1.5)
    assert quiet == [], [r.frame for r in quiet]  # untouched: still in its tool call
    first, second = await asyncio.gather(
        cancel(nc, owner, run.run_id), cancel(nc, owner, run.run_id)
    )
    events = await feed.until_terminal(timeout_s=20)
    late = await cancel(nc, owner, run.run_id)

    # Whichever is answered second may find the run already ended: both answers are harmless.
    assert {first.state, second.state} <= {CANCELLING, "cancelled"}  # type: ignore[union-attr]
    assert [e.type for e in events] == ["tool_completed", "agent_cancelled"]
    assert late == CancelAccepted(run_id=run.run_id, state="cancelled")
    assert await feed.quiet_for(0.5) == []


async def test_a_resent_message_starts_no_second_run(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user = new_user()
    first = await started_run(nc, user, "slow_task seconds=0.2 steps=1", client_msg_id="m-1")

    again = await started_run(nc, user, "slow_task seconds=0.2 steps=1", client_msg_id="m-1")

    assert again == first
    runs = await list_runs(nc, user, first.thread_id)
    assert isinstance(runs, RunList) and [r.run_id for r in runs.runs] == [first.run_id]


async def test_a_second_message_in_a_busy_thread_runs_after_the_first(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    first = await started_run(nc, user, "slow_task seconds=1.5 steps=3")
    second = await started_run(nc, user, "slow_task seconds=0.2 steps=1", thread_id=first.thread_id)

    events = await feed.until(lambda e: e.frame["run_id"] == second.run_id and is_end(e), 20)

    by_run = {
        run_id: [e for e in events if e.frame["run_id"] == run_id]
        for run_id in (first.run_id, second.run_id)
    }
    for run_id, run_events in by_run.items():
        assert_one_run_well_formed(run_events, run_id)
        assert run_events[-1].type == "agent_completed"
    assert by_run[second.run_id][0].seq > by_run[first.run_id][-1].seq


async def test_users_list_only_their_own_threads_and_runs(cluster: Cluster, nc: NATS) -> None:
    alice, mallory = new_user(), new_user()
    mine = await started_run(nc, alice, "slow_task seconds=0.2 steps=1")
    theirs = await started_run(nc, mallory, "slow_task seconds=0.2 steps=1")

    threads = await list_threads(nc, alice)
    foreign = await list_runs(nc, alice, theirs.thread_id)

    assert isinstance(threads, ThreadList)
    assert [t.thread_id for t in threads.threads] == [mine.thread_id]
    assert foreign == RunRejected(code="thread_not_found", message="no such thread")


async def test_closing_every_socket_mid_run_does_not_cancel_it(cluster: Cluster, nc: NATS) -> None:
    account = await new_account(cluster.stack.auth_url)
    async with connect(cluster.stack.ws_url, account.token) as ws:
        await send(ws, {"type": "message", "content": "slow_task seconds=2 steps=4"})
        accepted = await recv_json(ws)
        assert accepted["type"] == "run_accepted", accepted
    # No socket is open now; the run goes on, and its events wait in the stream.

    status = await until_ended(nc, account.user_id, accepted["thread_id"])

    assert status == "completed"
    last = await nc.jetstream().get_last_msg(
        subjects.EVENTS_STREAM, subjects.user_events(account.user_id)
    )
    assert msgspec.json.decode(last.data)["type"] == "agent_completed"


def is_end(event: Received) -> bool:
    return event.type in TERMINAL_TYPES


async def until_progress(cluster: Cluster, label: str, at_least: int) -> None:
    for _ in range(500):
        if cluster.progress(label) >= at_least:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"slow_task {label} never reached step {at_least}")


async def until_ended(nc: NATS, user_id: str, thread_id: str, timeout_s: float = 20) -> str:
    """The thread's only run's status, once it has one of the final ones."""
    for _ in range(int(timeout_s / 0.1)):
        runs = await list_runs(nc, user_id, thread_id)
        assert isinstance(runs, RunList), runs
        if runs.runs and runs.runs[0].status in {"completed", "failed", "cancelled"}:
            return runs.runs[0].status
        await asyncio.sleep(0.1)
    raise AssertionError("the run never ended")
