"""One run, driven with in-memory fakes for the event stream, the tools and the run ledger.

The runner publishes agent_started first and says how the run ended; it never publishes the
terminal event itself (closing does, see test_closing). These pin down every way a run can end.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.agent.control import RunHandle, StopReason
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.planner import CallTool, Finish, InfraAnalystPlanner, Plan, Step, Think
from services.agent.runner import Runner, RunSpec
from services.agent.toolclient import ToolCallError
from shared.errors import ErrorCode
from shared.wire.events import TERMINAL_TYPES, AgentThinking, started_msg_id
from tests.unit.agent.fakes import Ledger, Stream, Tools

SPEC = RunSpec(run_id="0123456789abcdef", thread_id="t1", user_id="u1", content="how is latency?")


def runner(
    stream: Stream, tools: Tools, ledger: Ledger, planner: Any = None, **options: Any
) -> Runner:
    return Runner(
        events=stream,
        tools=tools,
        book=ledger,
        planner=planner or InfraAnalystPlanner(),
        agent_name="infra_analyst",
        **options,
    )


def handle(run_id: str = SPEC.run_id) -> RunHandle:
    return RunHandle(run_id, lease_s=60)


async def run_task(runner: Runner, tools: Tools, spec: RunSpec = SPEC) -> tuple[Any, RunHandle]:
    """Start the run and return once it is inside its first tool call."""
    stop = handle(spec.run_id)
    stop.task = asyncio.create_task(runner.run(spec, stop))
    await tools.called.wait()
    return stop.task, stop


async def test_a_run_thinks_calls_tools_and_ends_completed_with_the_answer() -> None:
    stream, tools, ledger = Stream(), Tools(), Ledger()

    ending = await runner(stream, tools, ledger).run(SPEC, handle())

    assert ending is not None and ending.status is RunStatus.COMPLETED
    assert ending.result is not None and "412.3" in ending.result
    assert stream.types[0] == "agent_started" and stream.msg_ids[0] == started_msg_id(SPEC.run_id)
    assert not set(stream.types) & TERMINAL_TYPES  # closing publishes the end
    assert ledger.started == [SPEC.run_id]
    assert [c.tool_name for c in tools.calls] == ["analyze_performance", "detect_anomalies"]
    assert all(c.run_id == SPEC.run_id and c.user_id == "u1" for c in tools.calls)
    assert len({c.tool_call_id for c in tools.calls}) == 2
    assert ledger.calls == {}  # every call was answered and closed
    steps = [e.data.step for e in stream.events if isinstance(e, AgentThinking)]
    assert steps == list(range(1, len(steps) + 1))


async def test_a_tool_error_ends_the_run_failed_with_its_code_and_closes_the_call() -> None:
    stream, ledger = Stream(), Ledger()
    tools = Tools(
        errors={"detect_anomalies": ToolCallError("period too long", ErrorCode.INVALID_PARAMETERS)}
    )

    ending = await runner(stream, tools, ledger).run(SPEC, handle())

    assert ending == Ending.failed("invalid_parameters", "period too long")
    assert ledger.calls == {}


async def test_a_lost_tool_runner_fails_the_run_and_leaves_its_call_open_for_closing() -> None:
    lost = ToolCallError("no heartbeat", ErrorCode.TOOL_LOST, answered=False)
    ledger = Ledger()

    ending = await runner(Stream(), Tools(errors={"analyze_performance": lost}), ledger).run(
        SPEC, handle()
    )

    assert ending is not None and ending.error_code == "tool_lost"
    (call,) = ledger.calls.values()
    assert (call.tool_name, call.stage) == ("analyze_performance", CallStage.RUNNING)
    assert call.parameters == {"metric": "latency_ms", "period": "7d"}


class ExplodingPlanner:
    def start(self, message: str, history: list[str]) -> Plan:
        return ExplodingPlan()


class ExplodingPlan:
    headline = "Starting something doomed"

    def next_step(self, observation: object) -> Step:
        raise KeyError("services")


async def test_a_planner_crash_is_reported_not_silenced() -> None:
    stream = Stream()

    ending = await runner(stream, Tools(), Ledger(), ExplodingPlanner()).run(SPEC, handle())

    assert stream.types == ["agent_started"]
    assert ending is not None and ending.error_code == "agent_error"


class EndlessPlanner:
    def start(self, message: str, history: list[str]) -> Plan:
        return EndlessPlan()


class EndlessPlan:
    headline = "Starting to think for ever"

    def next_step(self, observation: object) -> Step:
        return Think("hmm")


async def test_a_plan_that_never_finishes_is_stopped_as_agent_error() -> None:
    ending = await runner(Stream(), Tools(), Ledger(), EndlessPlanner()).run(SPEC, handle())

    assert ending is not None and ending.error_code == "agent_error"


async def test_a_run_over_its_time_budget_fails_as_run_timeout() -> None:
    ending = await runner(
        Stream(), Tools(), Ledger(), EndlessPlanner(), think_delay_s=0.02, run_timeout_s=0.1
    ).run(SPEC, handle())

    assert ending is not None and ending.error_code == "run_timeout"
    assert "0.1s" in (ending.error_message or "")


class AsyncPlanner:
    """What an LLM planner looks like: its steps are awaitables."""

    def start(self, message: str, history: list[str]) -> Any:
        return AsyncPlan()


class AsyncPlan:
    headline = "Starting an async plan"

    def __init__(self) -> None:
        self.steps = [Think("one"), CallTool("analyze_performance", {}), Finish("done: 42")]

    async def next_step(self, observation: object) -> Step:
        return self.steps.pop(0)


async def test_a_planner_with_awaitable_steps_runs_unchanged() -> None:
    stream = Stream()

    ending = await runner(stream, Tools(), Ledger(), AsyncPlanner()).run(SPEC, handle())

    assert stream.whole == ["agent_started", "agent_thinking"]
    assert ending == Ending.completed("done: 42")


async def test_a_thought_the_stream_will_not_take_fails_the_run() -> None:
    stream = Stream(refuse={"agent_thinking"})

    ending = await runner(stream, Tools(), Ledger()).run(SPEC, handle())

    assert stream.whole == ["agent_started"]
    assert ending is not None and ending.error_code == "publish_failed"


@pytest.mark.parametrize(
    ("reason", "status", "code"),
    [
        (StopReason.CANCELLED, RunStatus.CANCELLED, None),
        (StopReason.SHUTDOWN, RunStatus.FAILED, "agent_stopped"),
    ],
)
async def test_a_run_stopped_mid_tool_ends_as_its_stop_reason_says(
    reason: StopReason, status: RunStatus, code: str | None
) -> None:
    ledger, tools = Ledger(), Tools(hang=True)
    task, stop = await run_task(runner(Stream(), tools, ledger), tools)

    assert stop.stop(reason)
    ending = await task

    assert ending is not None and (ending.status, ending.error_code) == (status, code)
    assert not task.cancelled()  # the run ended normally: its task goes on to close it
    assert [c.stage for c in ledger.calls.values()] == [CallStage.RUNNING]  # for closing


async def test_a_run_whose_lease_was_taken_ends_silently() -> None:
    stream, tools = Stream(), Tools(hang=True)
    task, stop = await run_task(runner(stream, tools, Ledger()), tools)
    published = list(stream.types)

    stop.stop(StopReason.LEASE_LOST)

    assert await task is None
    assert stream.types == published


async def test_a_run_that_cannot_be_sure_of_its_lease_publishes_nothing_more() -> None:
    stream, stop = Stream(), handle()
    stop.valid_until = time.monotonic() - 1  # renewals stopped getting through

    assert await runner(stream, Tools(), Ledger()).run(SPEC, stop) is None
    assert stream.events == []


async def test_a_cancel_nobody_asked_for_is_passed_on() -> None:
    tools = Tools(hang=True)
    task, _ = await run_task(runner(Stream(), tools, Ledger()), tools)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
