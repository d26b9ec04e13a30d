"""The built-in planner's whole plan, driven against fake tool results (no NATS, no tools)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.agent.planner import (
    CallTool,
    Finish,
    InfraAnalystPlanner,
    Plan,
    Step,
    Think,
    ToolObservation,
    slow_task_parameters,
)


def performance(
    worst: str = "db", p99: float = 412.3, trend: float = 12.4, rec: str = "add a read replica"
) -> dict[str, Any]:
    return {
        "metric": "latency_ms",
        "period": "7d",
        "services": {
            "api": {
                "avg": 45.2,
                "p50": 40.1,
                "p95": 98.0,
                "p99": 120.4,
                "min": 10.0,
                "max": 400.0,
                "trend_pct": 3.2,
            },
            worst: {
                "avg": 120.5,
                "p50": 90.0,
                "p95": 350.0,
                "p99": p99,
                "min": 20.0,
                "max": 980.0,
                "trend_pct": trend,
            },
        },
        "worst_service": worst,
        "recommendations": [rec, "consider caching hot queries"],
    }


def anomalies(count: int = 2) -> dict[str, Any]:
    found = [
        {"service": "db", "at": "2025-09-01T03:00:00Z", "value": 980.0, "z": 4.2},
        {"service": "db", "at": "2025-09-02T03:00:00Z", "value": 870.0, "z": 3.6},
    ][:count]
    return {
        "metric": "latency_ms",
        "period": "7d",
        "threshold": 3.0,
        "anomalies": found,
        "count": count,
    }


SAVINGS = {
    "period": "30d",
    "target_utilization": 0.6,
    "services": {
        "api": {"current_instances": 8, "needed_instances": 5, "monthly_savings": 1095.0},
        "worker": {"current_instances": 4, "needed_instances": 3, "monthly_savings": 365.0},
    },
    "total": {"monthly_savings": 1460.0, "savings_pct": 29.2},
}


def drive(plan: Plan, results: dict[str, dict[str, Any]]) -> list[Step]:
    """Play the plan to its Finish, answering each tool call from ``results``."""
    steps: list[Step] = []
    observation: ToolObservation | None = None
    while not steps or not isinstance(steps[-1], Finish):
        step = plan.next_step(observation)
        steps.append(step)
        observation = None
        if isinstance(step, CallTool):
            result = copy.deepcopy(results[step.tool_name])
            observation = ToolObservation(step.tool_name, step.parameters, result)
        assert len(steps) < 50, "the plan never finished"
    return steps


def run_plan(
    message: str, results: dict[str, dict[str, Any]], history: list[str] | None = None
) -> tuple[Plan, list[Step]]:
    plan = InfraAnalystPlanner().start(message, history or [])
    return plan, drive(plan, results)


def thoughts(steps: list[Step]) -> list[str]:
    return [s.thought for s in steps if isinstance(s, Think)]


def calls(steps: list[Step]) -> list[CallTool]:
    return [s for s in steps if isinstance(s, CallTool)]


def answer(steps: list[Step]) -> str:
    last = steps[-1]
    assert isinstance(last, Finish)
    return last.answer


DEFAULT_RESULTS = {"analyze_performance": performance(), "detect_anomalies": anomalies()}


def test_plan_thinks_calls_two_tools_and_answers_with_their_numbers() -> None:
    plan, steps = run_plan(
        "Why is everything slow? p99 latency over the last 7 days", DEFAULT_RESULTS
    )

    assert "latency" in plan.headline and "7 days" in plan.headline
    assert len(thoughts(steps)) >= 2
    assert [c.tool_name for c in calls(steps)] == ["analyze_performance", "detect_anomalies"]
    final = answer(steps)
    for number in ("412.3", "90.0", "+12.4%", "980", "4.2"):
        assert number in final
    assert "add a read replica" in final


def test_first_call_asks_for_exactly_the_metric_period_and_service_understood() -> None:
    _, steps = run_plan(
        "How is the cache memory over the last 24h?",
        {"analyze_performance": performance(worst="cache"), "detect_anomalies": anomalies()},
    )

    assert calls(steps)[0].parameters == {
        "metric": "memory_pct",
        "period": "24h",
        "service": "cache",
    }


def test_without_a_named_service_the_anomaly_scan_drills_into_the_worst_one() -> None:
    _, steps = run_plan(
        "how is latency?",
        {
            "analyze_performance": performance(worst="worker"),
            "detect_anomalies": anomalies(),
        },
    )

    second = calls(steps)[1]
    assert second.tool_name == "detect_anomalies"
    assert second.parameters["service"] == "worker"
    assert any("worker" in t for t in thoughts(steps)[1:])


def test_an_explicit_anomaly_question_scans_every_service() -> None:
    _, steps = run_plan("any latency spikes this week?", DEFAULT_RESULTS)

    assert "service" not in calls(steps)[1].parameters


def test_a_cost_question_calls_estimate_savings_and_quotes_the_savings() -> None:
    _, steps = run_plan(
        "Where can we cut costs?",
        {
            "analyze_performance": performance(),
            "estimate_savings": SAVINGS,
        },
    )

    assert [c.tool_name for c in calls(steps)] == ["analyze_performance", "estimate_savings"]
    assert calls(steps)[0].parameters["metric"] == "cpu_pct"
    assert "$1,460.00" in answer(steps) and "29.2%" in answer(steps)
    assert any("api" in t and "$1,095.00" in t for t in thoughts(steps))


def test_thoughts_cite_the_tool_results_they_follow() -> None:
    _, steps = run_plan("latency please", DEFAULT_RESULTS)

    after_performance = thoughts(steps)[2]
    assert "db" in after_performance and "412.3" in after_performance
    after_anomalies = thoughts(steps)[3]
    assert "2 anomalies" in after_anomalies and "980" in after_anomalies


def test_different_results_give_different_answers() -> None:
    _, first = run_plan("latency please", DEFAULT_RESULTS)
    _, second = run_plan(
        "latency please",
        {
            "analyze_performance": performance(
                worst="cache", p99=77.7, trend=-8.0, rec="shrink ttl"
            ),
            "detect_anomalies": anomalies(count=0),
        },
    )

    assert answer(first) != answer(second)
    assert "77.7" in answer(second) and "cache" in answer(second)
    assert "shrink ttl" in answer(second)
    assert "No latency reading" in answer(second)


def test_follow_up_in_a_thread_reuses_the_earlier_question() -> None:
    history = ["What was api latency like over the last 24h?"]

    plan, steps = run_plan("again for the db", DEFAULT_RESULTS, history)

    assert calls(steps)[0].parameters == {"metric": "latency_ms", "period": "24h", "service": "db"}
    assert "earlier in this thread" in thoughts(steps)[0]
    assert "db" in plan.headline


def test_missing_fields_in_a_tool_result_do_not_break_the_answer() -> None:
    _, steps = run_plan(
        "latency",
        {
            "analyze_performance": {"services": {"api": {"p99": 12.5}}},
            "detect_anomalies": {},
        },
    )

    assert "12.5" in answer(steps)
    assert "n/a" in answer(steps)


@pytest.mark.parametrize("result", [None, ["not", "an", "object"]])
def test_a_result_that_is_not_an_object_is_refused(result: Any) -> None:
    plan = InfraAnalystPlanner().start("latency", [])
    while not isinstance(step := plan.next_step(None), CallTool):
        pass

    with pytest.raises(ValueError, match="analyze_performance"):
        plan.next_step(ToolObservation(step.tool_name, step.parameters, result))


def test_a_message_naming_slow_task_runs_just_that_tool_with_its_settings() -> None:
    plan = InfraAnalystPlanner().start("please run slow_task seconds=2.5 steps=5 label=job-1", [])

    steps = drive(plan, {"slow_task": {"steps": 5, "seconds": 2.5}})

    assert [(c.tool_name, c.parameters) for c in calls(steps)] == [
        ("slow_task", {"seconds": 2.5, "steps": 5, "label": "job-1"})
    ]
    assert answer(steps) == "slow_task finished: 5 steps in 2.5s."
    assert plan.headline.startswith("Starting slow_task")


def test_slow_task_parameters_are_read_only_from_a_message_naming_it() -> None:
    assert slow_task_parameters("why is the api slow?") is None
    assert slow_task_parameters("slow_task") == {}


@pytest.mark.parametrize(
    "message", ["Write me a haiku about cats", "hello", "Test agent execution"]
)
def test_a_message_outside_the_analysts_scope_gets_what_it_can_do_and_no_tool_call(
    message: str,
) -> None:
    plan, steps = run_plan(message, {})

    assert calls(steps) == []
    assert len(thoughts(steps)) == 1
    reply = answer(steps)
    assert "latency, errors and cost" in reply and "api, db, cache and worker" in reply
    assert reply.count("\n- ") >= 2  # example questions to try
    assert "generated" in reply
    assert "can do" in plan.headline


def test_a_greeting_is_greeted_back_before_the_capabilities() -> None:
    _, steps = run_plan("hello", {})

    assert answer(steps).startswith("Hello!")


def test_a_follow_up_after_an_in_scope_question_still_runs_the_analysis() -> None:
    _, steps = run_plan("and the database?", DEFAULT_RESULTS, ["How is api latency this week?"])

    assert calls(steps)[0].parameters == {"metric": "latency_ms", "period": "7d", "service": "db"}


def test_the_first_thought_says_how_a_typo_was_read() -> None:
    _, steps = run_plan("Any eror spikes in the wroker?", DEFAULT_RESULTS)

    first = thoughts(steps)[0]
    assert "I read 'eror' as error rate and 'wroker' as the worker service" in first
    assert calls(steps)[0].parameters == {
        "metric": "error_rate",
        "period": "7d",
        "service": "worker",
    }


def test_the_answer_says_once_that_the_numbers_are_a_generated_sample() -> None:
    _, steps = run_plan("latency please", DEFAULT_RESULTS)

    assert answer(steps).count("generated sample") == 1


def test_an_anomaly_is_dated_as_a_person_reads_it() -> None:
    _, steps = run_plan("latency please", DEFAULT_RESULTS)

    assert "Mon 1 Sep 03:00 UTC" in answer(steps)  # 2025-09-01T03:00:00Z
