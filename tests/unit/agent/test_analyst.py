"""The built-in analyst as a user meets it: run through agentwire_sdk.testing with the real
built-in tools computing from the metrics sample (no NATS, no tool runner)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentwire_sdk import Turn
from agentwire_sdk.testing import Recording, run_agent
from services.agent.agents.analyst import analyst
from services.agent.planner import InfraAnalystPlanner
from services.tools.builtin.analyze_performance import AnalyzePerformanceParams, analyze
from services.tools.builtin.detect_anomalies import DetectAnomaliesParams, detect
from services.tools.builtin.estimate_savings import EstimateSavingsParams, estimate

TOOLS = {
    "analyze_performance": lambda **p: analyze(AnalyzePerformanceParams(**p)),
    "detect_anomalies": lambda **p: detect(DetectAnomaliesParams(**p)),
    "estimate_savings": lambda **p: estimate(EstimateSavingsParams(**p)),
}


async def ask(message: str, history: tuple[Turn, ...] = ()) -> Recording:
    return await run_agent(analyst(InfraAnalystPlanner()), message, history=history, tools=TOOLS)


def results(run: Recording, tool: str) -> list[dict[str, Any]]:
    return [
        e.data.result  # type: ignore[union-attr]
        for e in run.events
        if e.__struct_config__.tag == "tool_completed" and e.data.tool_name == tool  # type: ignore[union-attr,misc]
    ]


def parameters(run: Recording) -> list[dict[str, Any]]:
    return [
        e.data.parameters  # type: ignore[union-attr]
        for e in run.events
        if e.__struct_config__.tag == "tool_executing"  # type: ignore[misc]
    ]


@pytest.mark.parametrize(
    "message", ["Write me a haiku about cats", "hello", "Test agent execution"]
)
async def test_a_message_outside_its_scope_gets_a_short_answer_saying_what_it_can_do(
    message: str,
) -> None:
    run = await ask(message)

    assert "tool_executing" not in run.types and "tool_completed" not in run.types
    assert run.types[-1] == "agent_completed" and len(run.thoughts) == 1
    assert run.answer is not None
    assert "latency, errors and cost of four sample services" in run.answer
    assert "Why is the api slow this week?" in run.answer
    assert len(run.answer.splitlines()) <= 5


async def test_a_typo_in_a_service_and_a_metric_still_reaches_the_right_ones() -> None:
    run = await ask("Any eror spikes in the wroker?")

    assert parameters(run)[0] == {"metric": "error_rate", "period": "7d", "service": "worker"}
    assert "'wroker' as the worker service" in run.thoughts[0]
    assert run.answer is not None and run.answer.startswith("Error rate for the worker service")


async def test_this_weeks_anomalies_are_dated_within_the_last_seven_days() -> None:
    before = datetime.now(UTC)
    run = await ask("Were there any latency spikes this week?")
    after = datetime.now(UTC)

    (scan,) = results(run, "detect_anomalies")
    dates = [datetime.fromisoformat(a["at"]) for a in scan["anomalies"]]
    assert dates, "the sample's bad deploy two days ago is in this week"
    assert all(before - timedelta(days=7, hours=1) < at < after for at in dates)
    largest = max(scan["anomalies"], key=lambda a: abs(a["z"]))
    moment = datetime.fromisoformat(largest["at"])
    assert f"{moment.day} {moment:%b %H:%M} UTC" in (run.answer or "")


async def test_the_answer_says_the_metrics_are_a_generated_sample() -> None:
    run = await ask("How much could we save on the fleet?")

    assert run.answer is not None and run.answer.count("generated sample") == 1
    assert all(r["source"].startswith("generated sample") for r in results(run, "estimate_savings"))


async def test_a_follow_up_in_the_thread_keeps_the_earlier_question() -> None:
    earlier = (Turn(role="user", content="How is api latency over the last 24h?"),)

    run = await ask("and the database?", earlier)

    assert parameters(run)[0] == {"metric": "latency_ms", "period": "24h", "service": "db"}


async def test_slow_task_diagnostics_still_run_that_one_tool() -> None:
    calls: list[dict[str, Any]] = []

    def slow_task(**params: Any) -> dict[str, Any]:
        calls.append(params)
        return {"steps": 2, "seconds": 0.1}

    run = await run_agent(
        analyst(InfraAnalystPlanner()),
        "slow_task seconds=0.1 steps=2",
        tools={"slow_task": slow_task},
    )

    assert calls == [{"seconds": 0.1, "steps": 2}]
    assert run.answer == "slow_task finished: 2 steps in 0.1s."
