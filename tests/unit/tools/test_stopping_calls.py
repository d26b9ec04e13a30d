"""Stopping a call at the tool runner: cancels, per-tool limits, and heartbeats, without NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from services.tools.builtin import builtin_registry
from services.tools.builtin.slow_task import progress_path
from services.tools.registry import Parameters, Registry, Tool
from services.tools.runner import RUNNING_BEAT, ToolRunner
from shared.wire.events import ToolCompleted, ToolExecuting, ToolProgress, tool_completed_msg_id
from shared.wire.tools import ToolCallFailed, ToolCallSucceeded
from tests.unit.tools.test_runner import RecordingSink, request


def slow(seconds: float = 30, steps: int = 300, label: str = "job") -> dict[str, object]:
    return {"seconds": seconds, "steps": steps, "label": label}


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``check`` until it holds: for effects with no event to wait on (a file, a list)."""
    for _ in range(int(timeout_s / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("it never happened")


async def executing(sink: RecordingSink) -> None:
    """Until the call's tool_executing is stored (the tool is running from then on)."""
    await eventually(lambda: any(isinstance(e, ToolExecuting) for _, e in sink.events))


async def test_a_cancelled_call_stops_its_tool_and_completes_as_cancelled(tmp_path: Path) -> None:
    sink = RecordingSink()
    runner = ToolRunner(builtin_registry(tmp_path), sink, timeout_s=60)
    call = asyncio.create_task(runner.call(request("slow_task", parameters=slow())))
    progress = progress_path(tmp_path, "job")
    await eventually(progress.exists)  # the tool has taken at least one step

    assert await runner.cancel("c1") is True

    reply = await call
    assert reply == ToolCallFailed(code="cancelled", message="slow_task was cancelled")
    steps_when_cancelled = progress.read_text()
    completed = sink.events[-1][1]
    assert isinstance(completed, ToolCompleted)
    assert completed.data.error is not None and completed.data.error.code == "cancelled"
    assert sink.msg_ids[-1] == tool_completed_msg_id("c1")
    await asyncio.sleep(0.3)  # three more steps' worth of time: none of them happens
    assert progress.read_text() == steps_when_cancelled


async def test_a_call_cancelled_before_it_arrives_never_starts() -> None:
    sink = RecordingSink()
    runner = ToolRunner(builtin_registry(), sink, timeout_s=5)

    assert await runner.cancel("c1") is False  # not held here: remembered instead
    reply = await runner.call(request("slow_task", parameters=slow()))

    assert isinstance(reply, ToolCallFailed) and reply.code == "cancelled"
    assert sink.events == []


async def test_a_call_cancelled_while_waiting_for_its_tool_slot_shows_nothing() -> None:
    registry = builtin_registry()
    registry.limit(concurrency={"slow_task": 1})
    sink = RecordingSink()
    runner = ToolRunner(registry, sink, timeout_s=5)
    first = asyncio.create_task(runner.call(request("slow_task", parameters=slow())))
    await executing(sink)
    second = asyncio.create_task(
        runner.call(request("slow_task", tool_call_id="c2", parameters=slow()))
    )
    await asyncio.sleep(0.05)  # the second call is now waiting for the one slot

    assert await runner.cancel("c2") is True

    assert isinstance(await second, ToolCallFailed)
    assert {e.data.tool_call_id for _, e in sink.events} == {"c1"}
    await runner.cancel("c1")
    await first


async def test_a_tool_limited_to_one_call_runs_its_calls_one_at_a_time() -> None:
    registry = builtin_registry()
    registry.limit(concurrency={"slow_task": 1})
    sink = RecordingSink()
    runner = ToolRunner(registry, sink, timeout_s=5)
    quick = slow(seconds=0.2, steps=2)

    replies = await asyncio.gather(
        runner.call(request("slow_task", tool_call_id="a", parameters=quick)),
        runner.call(request("slow_task", tool_call_id="b", parameters=quick)),
    )

    assert all(isinstance(reply, ToolCallSucceeded) for reply in replies)
    kinds = [
        (type(e).__name__, e.data.tool_call_id)
        for _, e in sink.events
        if not isinstance(e, ToolProgress)
    ]
    assert kinds == [
        ("ToolExecuting", "a"),
        ("ToolCompleted", "a"),
        ("ToolExecuting", "b"),
        ("ToolCompleted", "b"),
    ]


async def test_a_tools_own_time_limit_beats_the_runners() -> None:
    registry = builtin_registry()
    registry.limit(timeouts={"slow_task": 0.1})
    runner = ToolRunner(registry, RecordingSink(), timeout_s=60)

    reply = await asyncio.wait_for(
        runner.call(request("slow_task", parameters=slow(seconds=10))), timeout=5
    )

    assert reply == ToolCallFailed(
        code="tool_timeout", message="slow_task did not finish within 0.1s"
    )


class Beats:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def __call__(self, tool_call_id: str, payload: bytes) -> None:
        self.sent.append((tool_call_id, payload))

    def of(self, tool_call_id: str) -> list[bytes]:
        return [payload for call_id, payload in self.sent if call_id == tool_call_id]


async def test_a_running_call_heartbeats_running_until_it_ends() -> None:
    beats = Beats()
    runner = ToolRunner(
        builtin_registry(), RecordingSink(), timeout_s=5, heartbeat=beats, heartbeat_interval_s=0.02
    )

    await runner.call(request("slow_task", parameters=slow(seconds=0.2, steps=2)))
    after = len(beats.sent)
    await asyncio.sleep(0.1)

    assert after >= 3 and beats.of("c1")[-1] == RUNNING_BEAT
    assert len(beats.sent) == after  # no heartbeat once the call has ended


async def test_a_call_waiting_for_its_turn_heartbeats_as_taken_not_running() -> None:
    registry = builtin_registry()
    registry.limit(concurrency={"slow_task": 1})
    beats, sink = Beats(), RecordingSink()
    runner = ToolRunner(registry, sink, timeout_s=5, heartbeat=beats, heartbeat_interval_s=0.02)
    first = asyncio.create_task(runner.call(request("slow_task", parameters=slow())))
    await executing(sink)

    second = asyncio.create_task(
        runner.call(request("slow_task", tool_call_id="c2", parameters=slow()))
    )
    await eventually(lambda: len(beats.of("c2")) >= 3)

    assert set(beats.of("c2")) == {b""}  # alive, but its tool_executing is not stored
    for call_id, call in (("c1", first), ("c2", second)):
        await runner.cancel(call_id)
        await call


async def test_an_invalid_call_is_released_and_can_still_be_cancelled_later() -> None:
    runner = ToolRunner(builtin_registry(), RecordingSink(), timeout_s=5)

    await runner.call(request("slow_task", parameters={"seconds": -1}))

    assert await runner.cancel("c1") is False


async def test_cancelling_another_call_leaves_this_one_alone() -> None:
    async def quick(params: Parameters) -> str:
        await asyncio.sleep(0.05)
        return "done"

    registry = Registry([Tool("quick", "quick", Parameters, quick)])
    runner = ToolRunner(registry, RecordingSink(), timeout_s=5)
    call = asyncio.create_task(runner.call(request("quick")))

    assert await runner.cancel("another-call") is False

    assert isinstance(await call, ToolCallSucceeded)
