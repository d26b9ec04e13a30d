"""Where a run's events are: ``runs`` lists name the seqs of its agent_started and its terminal
event, and its streamed messages join to the whole texts the five events carry."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS

from services.agent.messages import answer_message_id
from services.agent.node import AgentNode
from shared.wire.runs import RunInfo, RunList, RunStarted
from tests.component.agent.conftest import StartAgent
from tests.component.agent.support import (
    Received,
    ToolRunnerStandIn,
    Watch,
    cancel,
    list_runs,
    new_user,
    submit,
)

pytestmark = pytest.mark.both_databases  # SQLite, then PostgreSQL: tests/component/conftest.py


async def listed_when_announced(nc: NATS, user: str, started: RunStarted) -> RunInfo:
    """The run as listed once its end is announced (last_seq is written with that)."""
    for _ in range(250):
        page = await list_runs(nc, user, started.thread_id)
        assert isinstance(page, RunList)
        (run,) = [run for run in page.runs if run.run_id == started.run_id]
        if run.last_seq is not None:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError("the run's last_seq was never recorded")


def at(events: list[Received], seq: int | None) -> Received:
    (event,) = [event for event in events if event.seq == seq]
    return event


def joined(events: list[Received], message_id: str) -> str:
    return "".join(
        e.data["delta"]
        for e in events
        if e.type == "message_delta" and e.data["message_id"] == message_id
    )


async def test_a_listed_run_names_the_seqs_of_its_first_and_last_events(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    started = await submit(nc, user_id=user, content="Why is it slow? p99 over the last 7 days")
    assert isinstance(started, RunStarted)
    events = await feed.until_terminal()

    run = await listed_when_announced(nc, user, started)

    assert run.first_seq is not None and run.last_seq is not None
    assert run.first_seq < run.last_seq
    assert (run.first_seq, run.last_seq) == (events[0].seq, events[-1].seq)
    assert at(events, run.first_seq).type == "agent_started"
    assert at(events, run.last_seq).type == "agent_completed"


async def test_every_thought_and_the_answer_arrive_as_messages_that_join_to_the_whole_text(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    started = await submit(nc, user_id=user, content="latency")
    assert isinstance(started, RunStarted)

    events = await feed.until_terminal()

    thoughts = [e for e in events if e.type == "agent_thinking"]
    assert thoughts and all(
        joined(events, t.data["message_id"]) == t.data["thought"] for t in thoughts
    )
    completed = events[-1]
    assert completed.data["message_id"] == answer_message_id(started.run_id)
    assert joined(events, completed.data["message_id"]) == completed.data["result"]
    opened = {e.data["message_id"]: e.seq for e in events if e.type == "message_started"}
    for delta in (e for e in events if e.type == "message_delta"):
        assert opened[delta.data["message_id"]] < delta.seq  # after its message_started


async def test_a_cancelled_run_names_its_seqs_too_and_no_delta_follows_its_end(
    nc: NATS, start_agent: StartAgent, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    await start_agent(think_delay_s=0.3, stream_tokens_per_s=50.0)  # a second or so per thought
    user = new_user()
    feed = await watch(user)
    started = await submit(nc, user_id=user, content="latency")
    assert isinstance(started, RunStarted)
    events = await feed.until(lambda e: e.type == "message_delta")

    await cancel(nc, user, started.run_id)
    events += await feed.until_terminal()
    run = await listed_when_announced(nc, user, started)
    events += await feed.quiet_for(0.3)

    assert events[-1].type == "agent_cancelled"
    assert (at(events, run.first_seq).type, at(events, run.last_seq).type) == (
        "agent_started",
        "agent_cancelled",
    )
