"""Threads and runs as records: listing them, double-texting, and resending a message."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS

from services.agent.node import AgentNode
from services.agent.service import DoubleTextPolicy
from shared.wire.events import TERMINAL_TYPES
from shared.wire.runs import RunList, RunRejected, RunStarted, ThreadList
from tests.component.agent.conftest import StartAgent
from tests.component.agent.support import (
    ToolRunnerStandIn,
    Watch,
    assert_one_run_well_formed,
    cancel,
    list_runs,
    list_threads,
    new_user,
    submit,
    whole,
)

pytestmark = pytest.mark.both_databases  # SQLite, then PostgreSQL: tests/component/conftest.py


async def started_run(nc: NATS, user: str, content: str = "latency", **fields: str) -> RunStarted:
    reply = await submit(nc, user_id=user, content=content, **fields)
    assert isinstance(reply, RunStarted), reply
    return reply


async def statuses_once_recorded(nc: NATS, user: str, thread_id: str, count: int) -> dict[str, str]:
    """The thread's runs by id, once ``count`` are recorded: run_accepted means the message is
    stored in the queue, and an agent records its run a moment later."""
    for _ in range(200):
        runs = await list_runs(nc, user, thread_id)
        assert isinstance(runs, RunList)
        if len(runs.runs) >= count:
            return {r.run_id: r.status for r in runs.runs}
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} runs recorded")


async def test_a_resent_client_msg_id_answers_with_the_original_run_and_starts_nothing(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    first = await started_run(nc, user, client_msg_id="msg-1")
    await feed.until_terminal()

    again = await started_run(
        nc, user, "latency, sent again after a reconnect", client_msg_id="msg-1"
    )

    # The same run and thread (its state is the queue's view at the moment, not the run's).
    assert (again.run_id, again.thread_id) == (first.run_id, first.thread_id)
    assert await feed.quiet_for(0.5) == []  # no second run
    threads = await list_threads(nc, user)
    assert isinstance(threads, ThreadList) and len(threads.threads) == 1


async def test_a_message_to_a_busy_thread_waits_its_turn_then_runs(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.silent.add("analyze_performance")  # the first run hangs until cancelled
    user = new_user()
    feed = await watch(user)
    first = await started_run(nc, user)
    await tool_runner.called.wait()

    second = await started_run(nc, user, "again for the db", thread_id=first.thread_id)

    statuses = await statuses_once_recorded(nc, user, first.thread_id, 2)
    assert statuses == {first.run_id: "running", second.run_id: "queued"}
    tool_runner.silent.clear()
    await cancel(nc, user, first.run_id)
    first_events = await feed.until_terminal()
    second_events = await feed.until_terminal()
    assert_one_run_well_formed(first_events, first.run_id)
    assert_one_run_well_formed(second_events, second.run_id)
    assert first_events[-1].type == "agent_cancelled"
    assert second_events[-1].type == "agent_completed"
    assert first_events[-1].seq < second_events[0].seq  # it started only once the first ended


async def test_under_the_reject_policy_a_busy_thread_answers_thread_busy(
    nc: NATS, start_agent: StartAgent, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    await start_agent(double_text_policy=DoubleTextPolicy.REJECT)
    tool_runner.silent.add("analyze_performance")
    user = new_user()
    feed = await watch(user)
    first = await started_run(nc, user)
    await tool_runner.called.wait()

    refused = await submit(nc, user_id=user, content="hello?", thread_id=first.thread_id)

    assert isinstance(refused, RunStarted)  # stored in the queue: the agent refuses it
    events = await feed.until(
        lambda e: e.frame["run_id"] == refused.run_id and e.type in TERMINAL_TYPES
    )
    mine = [e for e in events if e.frame["run_id"] == refused.run_id]
    assert whole(mine) == ["agent_started", "agent_failed"]
    assert mine[-1].data["code"] == "thread_busy"
    runs = await list_runs(nc, user, first.thread_id)
    assert isinstance(runs, RunList) and [r.run_id for r in runs.runs] == [first.run_id]


async def test_a_queued_run_can_be_cancelled_before_it_starts(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.silent.add("analyze_performance")
    user = new_user()
    feed = await watch(user)
    first = await started_run(nc, user)
    await tool_runner.called.wait()
    queued = await started_run(nc, user, thread_id=first.thread_id)

    await cancel(nc, user, queued.run_id)

    events = await feed.until(lambda e: e.type == "agent_cancelled")
    assert whole([e for e in events if e.frame["run_id"] == queued.run_id]) == [
        "agent_started",
        "agent_cancelled",
    ]


async def test_users_list_only_their_own_threads_and_runs(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    alice, mallory = new_user(), new_user()
    feed = await watch(alice)
    first = await started_run(nc, alice, "api latency over 24h")
    await feed.until_terminal()
    follow_up = await started_run(nc, alice, "and for the db?", thread_id=first.thread_id)
    await feed.until_terminal()
    other = await started_run(nc, alice, "cpu costs")
    await feed.until_terminal()
    await started_run(nc, mallory, "mine")

    threads = await list_threads(nc, alice)
    runs = await list_runs(nc, alice, first.thread_id)

    assert isinstance(threads, ThreadList)
    assert [t.thread_id for t in threads.threads] == [other.thread_id, first.thread_id]
    assert threads.threads[1].title == "api latency over 24h"
    assert isinstance(runs, RunList)
    assert [(r.run_id, r.status) for r in runs.runs] == [  # newest first
        (follow_up.run_id, "completed"),
        (first.run_id, "completed"),
    ]
    assert runs.next_cursor is None and threads.next_cursor is None
    assert runs.runs[0].result and runs.runs[0].finished_at
    assert await list_runs(nc, mallory, first.thread_id) == RunRejected(
        code="thread_not_found", message="no such thread"
    )
    assert await list_runs(nc, alice, new_user()) == RunRejected(
        code="thread_not_found", message="no such thread"
    )


async def test_a_run_still_waiting_in_the_queue_is_listed_as_queued_with_its_new_thread(
    nc: NATS, start_agent: StartAgent, tool_runner: ToolRunnerStandIn
) -> None:
    await start_agent(max_concurrent_runs=1)  # one slot, and the first run keeps it
    tool_runner.silent.add("analyze_performance")
    user = new_user()
    first = await started_run(nc, user)
    await tool_runner.called.wait()

    waiting = await started_run(nc, user, "cpu costs this month")  # no agent takes it in

    runs = await list_runs(nc, user, waiting.thread_id)
    threads = await list_threads(nc, user)
    assert isinstance(runs, RunList)
    assert [(r.run_id, r.status, r.content) for r in runs.runs] == [
        (waiting.run_id, "queued", "cpu costs this month")
    ]
    assert isinstance(threads, ThreadList)
    assert [t.thread_id for t in threads.threads] == [waiting.thread_id, first.thread_id]
    assert threads.threads[0].title == "cpu costs this month"
    assert await list_runs(nc, new_user(), waiting.thread_id) == RunRejected(
        code="thread_not_found", message="no such thread"
    )
    await cancel(nc, user, first.run_id)
