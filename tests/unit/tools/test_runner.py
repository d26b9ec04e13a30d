"""The runner without NATS: what a tool call publishes and replies, whatever the tool does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.tools.builtin import builtin_registry
from services.tools.registry import Parameters, Registry, Tool, ToolFailed
from services.tools.runner import ToolRunner
from shared.errors import ErrorCode, PublishFailed
from shared.wire.events import AnyEvent, ToolCompleted, ToolExecuting, ToolProgress
from shared.wire.tools import ToolCallFailed, ToolCallRequest, ToolCallSucceeded


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, AnyEvent]] = []
        self.msg_ids: list[str | None] = []

    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int:
        self.events.append((user_id, event))
        self.msg_ids.append(msg_id)
        return len(self.events)


class RefusingSink:
    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int:
        raise PublishFailed("could not store event: NoRespondersError()")


def request(tool_name: str = "analyze_performance", **overrides: Any) -> ToolCallRequest:
    fields: dict[str, Any] = {
        "user_id": "u1",
        "run_id": "r1",
        "thread_id": "t1",
        "tool_call_id": "c1",
        "tool_name": tool_name,
        "parameters": {},
    }
    return ToolCallRequest(**{**fields, **overrides})


def registry_with(name: str, run: Any) -> Registry:
    registry = builtin_registry()
    registry.add(Tool(name, f"test tool {name}", Parameters, run))
    return registry


async def test_call_publishes_executing_then_completed_and_replies_the_result() -> None:
    sink = RecordingSink()
    reply = await ToolRunner(builtin_registry(), sink, timeout_s=5).call(
        request(parameters={"metric": "cpu_pct"})
    )
    assert isinstance(reply, ToolCallSucceeded)
    assert reply.result["metric"] == "cpu_pct" and reply.duration_ms >= 0
    (u1, executing), *progress, (u2, completed) = sink.events
    assert (u1, u2) == ("u1", "u1")
    assert all(isinstance(e, ToolProgress) and u == "u1" for u, e in progress)
    assert isinstance(executing, ToolExecuting) and isinstance(completed, ToolCompleted)
    assert executing.data.parameters == {"metric": "cpu_pct", "period": "7d", "service": None}
    assert completed.data.result == reply.result and completed.data.error is None
    assert executing.data.tool_call_id == completed.data.tool_call_id == "c1"
    assert (completed.run_id, completed.thread_id) == ("r1", "t1")
    assert executing.data.timestamp <= completed.data.timestamp


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (request(parameters={"period": "7x"}), ErrorCode.INVALID_PARAMETERS),
        (request("summon_dragons"), ErrorCode.UNKNOWN_TOOL),
        (request(user_id="u1.>"), ErrorCode.INVALID_ID),
        (request(run_id="r 1"), ErrorCode.INVALID_ID),
        (request(thread_id="*"), ErrorCode.INVALID_ID),
        (request(tool_call_id=""), ErrorCode.INVALID_ID),
    ],
)
async def test_invalid_call_is_refused_without_an_event(call: ToolCallRequest, code: str) -> None:
    sink = RecordingSink()
    reply = await ToolRunner(builtin_registry(), sink, timeout_s=5).call(call)
    assert isinstance(reply, ToolCallFailed) and reply.code == code
    assert sink.events == []


async def test_tool_failure_meant_for_the_user_is_passed_on() -> None:
    async def refuse(params: Parameters) -> None:
        raise ToolFailed("the metrics store is in maintenance")

    sink = RecordingSink()
    reply = await ToolRunner(registry_with("refuse", refuse), sink, timeout_s=5).call(
        request("refuse")
    )
    assert reply == ToolCallFailed(
        code="tool_failed", message="the metrics store is in maintenance"
    )
    completed = sink.events[-1][1]
    assert isinstance(completed, ToolCompleted) and completed.data.result is None
    assert completed.data.error is not None and completed.data.error.code == "tool_failed"


async def test_a_tool_bug_does_not_show_its_internals() -> None:
    async def buggy(params: Parameters) -> None:
        raise KeyError("secret_internal_table")

    sink = RecordingSink()
    reply = await ToolRunner(registry_with("buggy", buggy), sink, timeout_s=5).call(
        request("buggy")
    )
    assert isinstance(reply, ToolCallFailed) and reply.code == "tool_failed"
    assert "secret_internal_table" not in reply.message and "KeyError" in reply.message
    assert [type(e).__name__ for _, e in sink.events] == ["ToolExecuting", "ToolCompleted"]


async def test_a_tool_that_overruns_is_cut_off_with_tool_timeout() -> None:
    async def sleepy(params: Parameters) -> None:
        await asyncio.sleep(10)

    sink = RecordingSink()
    runner = ToolRunner(registry_with("sleepy", sleepy), sink, timeout_s=0.05)
    reply = await asyncio.wait_for(runner.call(request("sleepy")), timeout=2)
    assert reply == ToolCallFailed(
        code="tool_timeout", message="sleepy did not finish within 0.05s"
    )
    completed = sink.events[-1][1]
    assert isinstance(completed, ToolCompleted)
    assert completed.data.error is not None and completed.data.error.code == "tool_timeout"
    assert completed.data.duration_ms >= 50


async def test_a_tool_raising_its_own_timeout_error_is_a_failure_not_a_timeout() -> None:
    async def flaky(params: Parameters) -> None:
        raise TimeoutError("upstream did not answer")

    reply = await ToolRunner(registry_with("flaky", flaky), RecordingSink(), timeout_s=5).call(
        request("flaky")
    )
    assert isinstance(reply, ToolCallFailed) and reply.code == "tool_failed"


async def test_a_result_that_cannot_be_sent_is_a_failure() -> None:
    async def odd(params: Parameters) -> object:
        return object()

    reply = await ToolRunner(registry_with("odd", odd), RecordingSink(), timeout_s=5).call(
        request("odd")
    )
    assert isinstance(reply, ToolCallFailed) and reply.code == "tool_failed"


async def test_when_events_cannot_be_stored_the_tool_does_not_run() -> None:
    ran = False

    async def witness(params: Parameters) -> None:
        nonlocal ran
        ran = True

    reply = await ToolRunner(registry_with("witness", witness), RefusingSink(), timeout_s=5).call(
        request("witness")
    )
    assert isinstance(reply, ToolCallFailed) and reply.code == ErrorCode.PUBLISH_FAILED
    assert not ran


async def test_a_call_cancelled_mid_tool_still_completes_its_tool_event() -> None:
    started = asyncio.Event()

    async def endless(params: Parameters) -> None:
        started.set()
        await asyncio.sleep(10)

    sink = RecordingSink()
    task = asyncio.create_task(
        ToolRunner(registry_with("endless", endless), sink, timeout_s=30).call(request("endless"))
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    completed = sink.events[-1][1]
    assert isinstance(completed, ToolCompleted)
    assert completed.data.error is not None and "stopped" in completed.data.error.message
