"""Stop really stops: cancel in every phase of a run (agent and real tool runner in-process)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from services.agent.node import AgentNode
from services.tools.builtin.slow_task import progress_path
from shared.wire.runs import CancelAccepted, RunRejected, RunStarted
from tests.component.agent.conftest import StartAgent, StartTools
from tests.component.agent.support import (
    Received,
    ToolRunnerStandIn,
    Watch,
    assert_one_run_well_formed,
    cancel,
    new_user,
    submit,
    whole,
)

pytestmark = pytest.mark.both_databases  # SQLite, then PostgreSQL: tests/component/conftest.py

CANCELLING = "cancelling"


async def started_run(nc: NATS, user: str, content: str, **fields: str) -> RunStarted:
    reply = await submit(nc, user_id=user, content=content, **fields)
    assert isinstance(reply, RunStarted), reply
    return reply


def of_type(kind: str) -> Callable[[Received], bool]:
    return lambda event: event.type == kind


async def steps_taken(path: Path, at_least: int, timeout_s: float = 10) -> int:
    """The progress slow_task has recorded, once it has reached ``at_least`` steps."""
    for _ in range(int(timeout_s / 0.02)):
        steps = int(path.read_text()) if path.exists() else 0  # noqa: ASYNC240 - tiny file
        if steps >= at_least:
            return steps
        await asyncio.sleep(0.02)
    raise AssertionError(f"slow_task never reached step {at_least}")


async def test_cancel_during_a_long_tool_call_stops_the_tool_itself(
    nc: NATS,
    agent: AgentNode,
    start_tools: StartTools,
    progress_dir: Path,
    watch: Watch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await start_tools()
    user = new_user()
    feed = await watch(user)
    run = await started_run(nc, user, "slow_task seconds=60 steps=600 label=cancel-mid-tool")
    progress = progress_path(progress_dir, "cancel-mid-tool")
    await steps_taken(progress, at_least=3)  # the tool is demonstrably working

    reply = await cancel(nc, user, run.run_id)

    assert reply == CancelAccepted(run_id=run.run_id, state=CANCELLING)
    events = await feed.until_terminal()
    assert_one_run_well_formed(events, run.run_id)
    completed = next(e for e in events if e.type == "tool_completed")
    assert completed.data["error"]["code"] == "cancelled"
    assert events[-1].type == "agent_cancelled"
    stopped_at = int(progress.read_text())
    await asyncio.sleep(0.5)  # five steps' worth of time: the tool takes none of them
    assert int(progress.read_text()) == stopped_at < 600
    assert await feed.quiet_for(0.2) == []
    gc.collect()  # a task still pending when collected is logged by asyncio right here
    assert "Task was destroyed but it is pending" not in caplog.text


async def test_cancel_while_thinking_ends_the_run_before_any_tool_runs(
    nc: NATS, start_agent: StartAgent, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    await start_agent(think_delay_s=1.0)  # one second between thoughts: a wide window
    user = new_user()
    feed = await watch(user)
    run = await started_run(nc, user, "latency")
    thinking = await feed.until(of_type("agent_thinking"))

    assert await cancel(nc, user, run.run_id) == CancelAccepted(run_id=run.run_id, state=CANCELLING)

    events = thinking + await feed.until_terminal()
    assert_one_run_well_formed(events, run.run_id)
    assert whole(events) == ["agent_started", "agent_thinking", "agent_cancelled"]
    assert events[-1].data["reason"] == "cancelled by the user"
    assert tool_runner.calls == []


async def test_cancel_before_agent_started_still_begins_the_run_with_agent_started(
    nc: NATS, start_agent: StartAgent, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    await start_agent(max_concurrent_runs=1)
    tool_runner.silent.add("analyze_performance")  # the first run holds the only slot
    user = new_user()
    feed = await watch(user)
    await started_run(nc, new_user(), "latency")
    await tool_runner.called.wait()
    waiting = await started_run(nc, user, "latency")  # accepted, but has no slot to start in

    assert await cancel(nc, user, waiting.run_id) == CancelAccepted(
        run_id=waiting.run_id, state=CANCELLING
    )

    events = await feed.until_terminal()
    assert whole(events) == ["agent_started", "agent_cancelled"]
    assert "before work on it began" in events[0].data["message"]


async def test_cancel_sent_the_moment_the_run_is_accepted_still_ends_it_cancelled(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.silent.add("analyze_performance")  # if the cancel came late, it would hang
    user = new_user()
    feed = await watch(user)

    run = await started_run(nc, user, "latency")
    await cancel(nc, user, run.run_id)

    events = await feed.until_terminal()
    assert_one_run_well_formed(events, run.run_id)
    assert events[-1].type == "agent_cancelled"


async def test_someone_elses_cancel_is_refused_and_their_run_goes_on(
    nc: NATS, start_agent: StartAgent, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    await start_agent(think_delay_s=0.2)
    owner, intruder = new_user(), new_user()
    feed = await watch(owner)
    run = await started_run(nc, owner, "latency")

    refused = await cancel(nc, intruder, run.run_id)
    unknown = await cancel(nc, intruder, new_user())

    assert refused == unknown == RunRejected(code="run_not_found", message="no such run")
    events = await feed.until_terminal()
    assert_one_run_well_formed(events, run.run_id)
    assert events[-1].type == "agent_completed"


async def test_cancelling_twice_or_too_late_is_harmless(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    tool_runner.silent.add("analyze_performance")
    user = new_user()
    feed = await watch(user)
    run = await started_run(nc, user, "latency")
    await tool_runner.called.wait()

    first, second = await asyncio.gather(cancel(nc, user, run.run_id), cancel(nc, user, run.run_id))
    events = await feed.until_terminal()
    after = await cancel(nc, user, run.run_id)

    assert {first.state, second.state} <= {CANCELLING, "cancelled"}  # type: ignore[union-attr]
    assert after == CancelAccepted(run_id=run.run_id, state="cancelled")
    assert_one_run_well_formed(events, run.run_id)
    assert await feed.quiet_for(0.3) == []  # no second agent_cancelled


async def test_cancelling_a_finished_run_answers_how_it_finished(
    nc: NATS, agent: AgentNode, tool_runner: ToolRunnerStandIn, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    run = await started_run(nc, user, "latency")
    await feed.until_terminal()

    assert await cancel(nc, user, run.run_id) == CancelAccepted(
        run_id=run.run_id, state="completed"
    )
    assert await feed.quiet_for(0.3) == []
