"""One run, driven with in-memory fakes for the event stream, the tools and the run records.

These pin down the promise users depend on whatever breaks: agent_started first, exactly one
terminal event, and it is last.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.agent.models import RunStatus
from services.agent.planner import CallTool, Finish, InfraAnalystPlanner, Plan, Step, Think
from services.agent.runner import Runner, RunSpec
from services.agent.toolclient import ToolCallError
from shared.errors import ErrorCode, PublishFailed
from shared.wire.events import TERMINAL_TYPES, AgentThinking, AnyEvent
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded
from tests.unit.agent.test_planner import DEFAULT_RESULTS

SPEC = RunSpec(run_id="0123456789abcdef", thread_id="t1", user_id="u1", content="how is latency?")


@dataclass
class Stream:
    events: list[AnyEvent] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # event types to fail with PublishFailed

    async def publish(self, user_id: str, event: AnyEvent) -> int:
        tag = type(event).__struct_config__.tag
        if tag in self.refuse:
            raise PublishFailed("stream unavailable")
        self.events.append(event)
        return len(self.events)

    @property
    def types(self) -> list[str]:
        return [str(type(e).__struct_config__.tag) for e in self.events]


@dataclass
class Tools:
    results: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESULTS))
    errors: dict[str, ToolCallError] = field(default_factory=dict)
    hang: bool = False
    calls: list[ToolCallRequest] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, request: ToolCallRequest) -> ToolCallSucceeded:
        self.calls.append(request)
        self.called.set()
        if self.hang:
            await asyncio.Event().wait()
        if request.tool_name in self.errors:
            raise self.errors[request.tool_name]
        return ToolCallSucceeded(result=self.results[request.tool_name], duration_ms=1.0)


@dataclass
class Ledger:
    finished: list[tuple[str, RunStatus, dict[str, Any]]] = field(default_factory=list)

    async def finish_run(self, run_id: str, status: RunStatus, **fields: Any) -> bool:
        self.finished.append((run_id, status, fields))
        return True


def runner(stream: Stream, tools: Tools, ledger: Ledger, planner: Any = None) -> Runner:
    return Runner(
        events=stream,
        tools=tools,
        ledger=ledger,
        planner=planner or InfraAnalystPlanner(),
        agent_name="infra_analyst",
        max_concurrent_runs=4,
    )


def assert_one_terminal_event_last(stream: Stream) -> None:
    assert stream.types[0] == "agent_started", stream.types
    assert sum(t in TERMINAL_TYPES for t in stream.types) == 1, stream.types
    assert stream.types[-1] in TERMINAL_TYPES


async def test_a_run_thinks_calls_tools_and_completes_with_an_answer() -> None:
    stream, tools, ledger = Stream(), Tools(), Ledger()

    await runner(stream, tools, ledger).run(SPEC)

    assert_one_terminal_event_last(stream)
    assert stream.types[-1] == "agent_completed"
    assert stream.types.count("agent_thinking") >= 2
    assert [c.tool_name for c in tools.calls] == ["analyze_performance", "detect_anomalies"]
    assert all(c.run_id == SPEC.run_id and c.user_id == "u1" for c in tools.calls)
    assert len({c.tool_call_id for c in tools.calls}) == 2
    assert {e.data.agent_id for e in stream.events} == {"infra_analyst_01234567"}
    steps = [e.data.step for e in stream.events if isinstance(e, AgentThinking)]
    assert steps == list(range(1, len(steps) + 1))
    assert ledger.finished == [
        (
            SPEC.run_id,
            RunStatus.COMPLETED,
            {"result": stream.events[-1].data.result, "error_code": None, "error_message": None},
        )
    ]


async def test_a_tool_error_ends_the_run_with_agent_failed_carrying_its_code() -> None:
    stream, ledger = Stream(), Ledger()
    tools = Tools(
        errors={"detect_anomalies": ToolCallError("period too long", ErrorCode.INVALID_PARAMETERS)}
    )

    await runner(stream, tools, ledger).run(SPEC)

    assert_one_terminal_event_last(stream)
    failed = stream.events[-1]
    assert (failed.data.code, failed.data.message) == ("invalid_parameters", "period too long")
    assert ledger.finished[0][1] is RunStatus.FAILED
    assert ledger.finished[0][2]["error_code"] == "invalid_parameters"


class ExplodingPlanner:
    def start(self, message: str, history: list[str]) -> Plan:
        return ExplodingPlan()


class ExplodingPlan:
    headline = "Starting something doomed"

    def next_step(self, observation: object) -> Step:
        raise KeyError("services")


async def test_a_planner_crash_is_reported_not_silenced() -> None:
    stream, ledger = Stream(), Ledger()

    await runner(stream, Tools(), ledger, ExplodingPlanner()).run(SPEC)

    assert stream.types == ["agent_started", "agent_failed"]
    assert stream.events[-1].data.code == "agent_error"


class EndlessPlanner:
    def start(self, message: str, history: list[str]) -> Plan:
        return EndlessPlan()


class EndlessPlan:
    headline = "Starting to think for ever"

    def next_step(self, observation: object) -> Step:
        return Think("hmm")


async def test_a_plan_that_never_finishes_is_stopped_with_agent_failed() -> None:
    stream = Stream()

    await runner(stream, Tools(), Ledger(), EndlessPlanner()).run(SPEC)

    assert_one_terminal_event_last(stream)
    assert stream.events[-1].data.code == "agent_error"


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

    await runner(stream, Tools(), Ledger(), AsyncPlanner()).run(SPEC)

    assert stream.types == ["agent_started", "agent_thinking", "agent_completed"]
    assert stream.events[-1].data.result == "done: 42"


async def test_a_thought_the_stream_will_not_take_fails_the_run_once() -> None:
    stream, ledger = Stream(refuse={"agent_thinking"}), Ledger()

    await runner(stream, Tools(), ledger).run(SPEC)

    assert stream.types == ["agent_started", "agent_failed"]
    assert stream.events[-1].data.code == "publish_failed"
    assert len(ledger.finished) == 1


async def test_an_answer_the_stream_will_not_take_becomes_agent_failed() -> None:
    stream, ledger = Stream(refuse={"agent_completed"}), Ledger()

    await runner(stream, Tools(), ledger).run(SPEC)

    assert_one_terminal_event_last(stream)
    assert stream.events[-1].data.code == "publish_failed"
    assert [status for _, status, _ in ledger.finished] == [RunStatus.FAILED]


async def test_a_run_cancelled_mid_tool_ends_with_agent_failed() -> None:
    stream, ledger, tools = Stream(), Ledger(), Tools(hang=True)
    task = asyncio.create_task(runner(stream, tools, ledger).run(SPEC))
    await tools.called.wait()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert_one_terminal_event_last(stream)
    assert stream.events[-1].data.code == "agent_error"
    assert [status for _, status, _ in ledger.finished] == [RunStatus.FAILED]


async def test_runs_beyond_the_concurrency_limit_wait_for_a_slot() -> None:
    stream, tools = Stream(), Tools(hang=True)
    limited = Runner(
        events=stream,
        tools=tools,
        ledger=Ledger(),
        planner=InfraAnalystPlanner(),
        agent_name="a",
        max_concurrent_runs=1,
    )
    first = asyncio.create_task(limited.run(SPEC))
    second = asyncio.create_task(limited.run(RunSpec("second", "t1", "u1", "latency")))
    for _ in range(20):
        await asyncio.sleep(0)

    assert len(tools.calls) == 1  # the second run has not started
    for task in (first, second):
        task.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert stream.types.count("agent_failed") == 2
