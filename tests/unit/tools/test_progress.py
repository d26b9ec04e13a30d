"""A long tool's progress: tool_progress events, rising, between its tool_executing and its
tool_completed, at a bounded rate, and none after the call ended (also when it was cancelled)."""

from __future__ import annotations

import asyncio

from services.tools.builtin import builtin_registry
from services.tools.builtin.analyze_performance import AnalyzePerformanceParams, analyze
from services.tools.builtin.analyze_performance import analyze_performance as run_analysis
from services.tools.runner import ToolRunner
from shared.wire.events import ToolProgress
from shared.wire.tools import ToolCallFailed, ToolCallSucceeded
from tests.unit.tools.test_runner import RecordingSink, request


def runner(sink: RecordingSink, interval_s: float = 0.05) -> ToolRunner:
    return ToolRunner(builtin_registry(), sink, timeout_s=5, progress_interval_s=interval_s)


def kinds(sink: RecordingSink) -> list[str]:
    return [type(event).__name__ for _, event in sink.events]


async def test_slow_task_reports_rising_progress_between_its_two_events() -> None:
    sink = RecordingSink()

    reply = await runner(sink).call(request("slow_task", parameters={"seconds": 0.5, "steps": 10}))
    await asyncio.sleep(0.1)  # anything published late would be in by now

    assert isinstance(reply, ToolCallSucceeded)
    assert kinds(sink)[0] == "ToolExecuting" and kinds(sink)[-1] == "ToolCompleted"
    progress = [event.data for _, event in sink.events if isinstance(event, ToolProgress)]
    assert 3 <= len(progress) <= 0.5 / 0.05 + 1  # every step, coalesced to one per 50 ms
    fractions = [data.progress or 0.0 for data in progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.1
    assert progress[0].message == "step 1 of 10"
    assert all(data.tool_call_id == "c1" and data.tool_name == "slow_task" for data in progress)
    assert all(u == "u1" and e.run_id == "r1" for u, e in sink.events)


async def test_a_cancelled_slow_task_reports_nothing_after_its_tool_completed() -> None:
    sink = RecordingSink()
    tools = runner(sink, interval_s=0.01)
    call = asyncio.create_task(
        tools.call(request("slow_task", parameters={"seconds": 5, "steps": 100}))
    )
    for _ in range(300):  # until a few steps have shown
        if kinds(sink).count("ToolProgress") >= 3:
            break
        await asyncio.sleep(0.01)

    assert await tools.cancel("c1")
    reply = await call
    await asyncio.sleep(0.2)  # the steps it would have taken meanwhile report nothing

    assert isinstance(reply, ToolCallFailed) and reply.code == "cancelled"
    assert kinds(sink)[-1] == "ToolCompleted"
    assert set(kinds(sink)[1:-1]) == {"ToolProgress"}


async def test_analyze_performance_reports_each_service_and_its_answer_is_unchanged() -> None:
    reports: list[tuple[float | None, str | None]] = []
    params = AnalyzePerformanceParams(metric="cpu_pct")

    result = await run_analysis(params, progress=lambda f=None, m=None: reports.append((f, m)))

    assert result == analyze(params)
    assert [fraction for fraction, _ in reports] == [0.25, 0.5, 0.75, 1.0]
    assert reports[0][1] == "api: 1 of 4 services analysed"
