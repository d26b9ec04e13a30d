"""Runs as a user sees them: submit over NATS, watch the events arrive from the stream."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from nats.aio.client import Client as NATS

from services.agent.models import RunStatus
from services.agent.node import AgentNode
from services.agent.repository import AgentRepository
from shared import subjects
from shared.wire.events import TERMINAL_TYPES
from shared.wire.runs import RunList, RunRejected, RunStarted
from tests.component.agent.support import (
    REQUIRED,
    Received,
    ToolRunnerStandIn,
    Watch,
    list_runs,
    new_user,
    submit,
    whole,
)


def assert_well_formed_run(events: list[Received], started: RunStarted) -> None:
    """Started first, each tool_executing then its tool_completed, one terminal event last."""
    kinds = [e.type for e in events]
    assert kinds[0] == "agent_started", kinds
    assert sum(k in TERMINAL_TYPES for k in kinds) == 1 and kinds[-1] in TERMINAL_TYPES, kinds
    for event in events:
        assert (event.frame["run_id"], event.frame["thread_id"]) == (
            started.run_id,
            started.thread_id,
        )
        assert REQUIRED[event.type] <= event.data.keys(), event.frame
        assert isinstance(event.data["timestamp"], float)
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), seqs
    for executing, completed in itertools.pairwise(events):
        if executing.type == "tool_executing":
            assert completed.type == "tool_completed"
            assert completed.data["tool_call_id"] == executing.data["tool_call_id"]


async def finished_run(repository: AgentRepository | None, run_id: str) -> RunStatus:
    """The run's recorded status once its end is announced (marked just after the event)."""
    assert repository is not None
    for _ in range(100):
        run = await repository.get_run(run_id)
        assert run is not None
        if run.status.is_terminal and run.announced:
            return run.status
        await asyncio.sleep(0.02)
    raise AssertionError("the run is still recorded as running")


async def test_user_sees_a_run_start_think_use_tools_and_complete_in_order(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)

    started = await submit(nc, user_id=user, content="Why is it slow? p99 over the last 7 days")

    assert isinstance(started, RunStarted)
    events = await feed.until_terminal()
    assert_well_formed_run(events, started)
    kinds = [e.type for e in events]
    assert kinds[-1] == "agent_completed"
    assert kinds.count("agent_thinking") >= 2
    tools_used = [e.data["tool_name"] for e in events if e.type == "tool_executing"]
    assert tools_used == ["analyze_performance", "detect_anomalies"]
    assert events[0].data["message"].startswith("Starting infrastructure analysis")
    assert events[0].data["agent_id"] == f"infra_analyst_{started.run_id[:8]}"
    assert "412.3" in events[-1].data["result"]  # the stand-in's db p99
    assert await finished_run(agent.repository, started.run_id) is RunStatus.COMPLETED


async def test_someone_elses_thread_is_not_found_and_nothing_runs(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    owner, intruder = new_user(), new_user()
    owner_feed = await watch(owner)
    theirs = await submit(nc, user_id=owner, content="latency")
    assert isinstance(theirs, RunStarted)
    await owner_feed.until_terminal()
    intruder_feed = await watch(intruder)

    foreign = await submit(nc, user_id=intruder, content="hi", thread_id=theirs.thread_id)
    unknown = await submit(nc, user_id=intruder, content="hi", thread_id=new_user())

    # Accepted into the queue (the gateway cannot know), then ended by the agent that takes it.
    events = await intruder_feed.until_terminal()
    events += await intruder_feed.until_terminal()
    for run in (foreign, unknown):
        assert isinstance(run, RunStarted)
        mine = [e for e in events if e.frame["run_id"] == run.run_id]
        assert whole(mine) == ["agent_started", "agent_failed"]
        assert mine[-1].data["code"] == "thread_not_found"
        assert mine[-1].data["message"] == "no such thread"  # a foreign one looks missing
    assert await owner_feed.quiet_for(0.3) == []
    runs = await list_runs(nc, owner, theirs.thread_id)
    assert isinstance(runs, RunList) and [r.run_id for r in runs.runs] == [theirs.run_id]


async def test_follow_up_in_a_thread_reuses_it_and_understands_the_earlier_message(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    first = await submit(nc, user_id=user, content="How was api latency over the last 24h?")
    assert isinstance(first, RunStarted)
    await feed.until_terminal()

    again = await submit(nc, user_id=user, content="again for the db", thread_id=first.thread_id)

    assert isinstance(again, RunStarted)
    assert again.thread_id == first.thread_id and again.run_id != first.run_id
    events = await feed.until_terminal()
    assert_well_formed_run(events, again)
    assert events[-1].type == "agent_completed"
    analyzed = [c.parameters for c in tool_runner.calls if c.tool_name == "analyze_performance"]
    assert analyzed[-1] == {"metric": "latency_ms", "period": "24h", "service": "db"}


async def test_a_tool_error_ends_the_run_with_agent_failed_carrying_its_code(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.failures["detect_anomalies"] = ("invalid_parameters", "period is too long")
    user = new_user()
    feed = await watch(user)

    started = await submit(nc, user_id=user, content="latency spikes?")

    assert isinstance(started, RunStarted)
    events = await feed.until_terminal()
    assert_well_formed_run(events, started)
    assert events[-1].type == "agent_failed"
    assert events[-1].data["code"] == "invalid_parameters"
    assert "period is too long" in events[-1].data["message"]
    assert await feed.quiet_for(0.3) == []  # nothing after the terminal event
    assert await finished_run(agent.repository, started.run_id) is RunStatus.FAILED


async def test_with_no_tool_runner_the_run_fails_fast_as_tool_unavailable(
    nc: NATS, agent: AgentNode, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    began = asyncio.get_running_loop().time()

    started = await submit(nc, user_id=user, content="latency")

    assert isinstance(started, RunStarted)
    events = await feed.until_terminal()
    assert events[-1].type == "agent_failed"
    assert events[-1].data["code"] == "tool_unavailable"
    # Well inside the 2 s tool timeout: NATS said "no responders" at once.
    assert asyncio.get_running_loop().time() - began < 1.5


async def test_a_tool_that_never_answers_fails_the_run_as_tool_timeout(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.silent.add("analyze_performance")
    user = new_user()
    feed = await watch(user)

    await submit(nc, user_id=user, content="latency")

    events = await feed.until_terminal(timeout_s=5)
    assert events[-1].type == "agent_failed"
    assert events[-1].data["code"] == "tool_timeout"


@pytest.mark.parametrize(
    "ids",
    [
        {"user_id": "alice>"},
        {"user_id": "alice.*"},
        {"user_id": "alice bob"},
        {"thread_id": "thread.1"},
        {"client_msg_id": "m>"},
    ],
)
async def test_an_id_that_could_widen_a_subject_is_refused_as_invalid_id(
    nc: NATS, agent: AgentNode, ids: dict[str, str]
) -> None:
    reply = await submit(nc, **{"user_id": new_user(), "content": "latency", **ids})

    assert isinstance(reply, RunRejected)
    assert reply.code == "invalid_id"


async def test_an_unreadable_message_in_the_queue_ends_its_run_rather_than_silence(
    nc: NATS, agent: AgentNode, watch: Watch
) -> None:
    user, thread, run = new_user(), new_user(), new_user()
    feed = await watch(user)

    await nc.jetstream().publish(subjects.run_intake(user, thread, run), b'{"content": 5}')

    events = await feed.until_terminal()
    assert whole(events) == ["agent_started", "agent_failed"]
    assert events[-1].frame["run_id"] == run and events[-1].data["code"] == "intake_failed"
    for _ in range(100):  # acknowledged just after its events: gone from the queue
        if (await nc.jsm().stream_info(subjects.RUNS_STREAM)).state.messages == 0:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the unreadable message is still in the queue")


async def test_stopping_the_agent_fails_the_runs_still_in_flight(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.silent.add("analyze_performance")  # the run hangs in its first tool call
    user = new_user()
    feed = await watch(user)
    started = await submit(nc, user_id=user, content="latency")
    assert isinstance(started, RunStarted)
    await tool_runner.called.wait()

    await agent.stop()

    events = await feed.until_terminal()
    assert events[-1].type == "agent_failed"
    assert events[-1].data["code"] == "agent_stopped"
    assert "stopped" in events[-1].data["message"]


async def test_concurrent_users_each_see_only_their_own_run(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    users = [new_user() for _ in range(8)]
    feeds = [await watch(user) for user in users]

    replies = await asyncio.gather(*(submit(nc, user_id=u, content="latency") for u in users))
    runs = await asyncio.gather(*(feed.until_terminal() for feed in feeds))

    for started, events in zip(replies, runs, strict=True):
        assert isinstance(started, RunStarted)
        assert_well_formed_run(events, started)
        assert events[-1].type == "agent_completed"
