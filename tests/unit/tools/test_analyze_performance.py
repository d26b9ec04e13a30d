"""analyze_performance: statistics and advice computed from the metrics sample."""

from __future__ import annotations

from typing import Any

import pytest

from services.tools.builtin import metrics
from services.tools.builtin.analyze_performance import AnalyzePerformanceParams, analyze


def run(**params: Any) -> dict[str, Any]:
    return analyze(AnalyzePerformanceParams(**params))


@pytest.mark.parametrize("metric", metrics.METRICS)
def test_percentiles_are_ordered_for_every_service(metric: str) -> None:
    result = run(metric=metric, period="30d")
    assert set(result["services"]) == set(metrics.SERVICES)
    for stats in result["services"].values():
        assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]
        assert stats["min"] <= stats["avg"] <= stats["max"]


def test_average_is_the_mean_of_the_period_samples() -> None:
    result = run(metric="cpu_pct", period="7d", service="db")
    expected = metrics.mean(metrics.window("db", "cpu_pct", 7 * 24))
    assert result["services"]["db"]["avg"] == round(expected, 2)
    assert result["samples_per_service"] == 168
    assert result["unit"] == "%"


@pytest.mark.parametrize("period", ["7d", "30d"])
def test_api_latency_trends_upward(period: str) -> None:
    trend = run(metric="latency_ms", period=period)["services"]["api"]["trend_pct"]
    assert trend > 5


def test_different_periods_give_different_numbers() -> None:
    week = run(period="7d")["services"]["api"]
    month = run(period="30d")["services"]["api"]
    day = run(period="24h")["services"]["api"]
    assert len({week["avg"], month["avg"], day["avg"]}) == 3
    assert week["p50"] != month["p50"]


def test_one_service_can_be_analysed_alone() -> None:
    result = run(service="cache", metric="memory_pct")
    assert list(result["services"]) == ["cache"]
    assert result["worst_service"] == "cache"


def test_worst_service_for_cpu_has_the_highest_p95() -> None:
    result = run(metric="cpu_pct", period="30d")
    p95 = {svc: stats["p95"] for svc, stats in result["services"].items()}
    assert result["worst_by"] == "p95"
    assert result["worst_service"] == max(p95, key=p95.__getitem__)


def test_cool_services_are_called_over_provisioned() -> None:
    result = run(metric="cpu_pct", period="30d")
    cool = {svc for svc, s in result["services"].items() if s["avg"] < 30}
    assert cool  # the sample runs cache and worker cool
    flagged = {
        svc
        for svc in metrics.SERVICES
        for line in result["recommendations"]
        if line.startswith(f"over-provisioned: {svc} ")
    }
    assert flagged == cool


def test_wide_latency_tail_is_called_out_with_its_numbers() -> None:
    result = run(metric="latency_ms", period="30d")
    db = result["services"]["db"]
    assert db["p99"] > 3 * db["p50"]  # the sample's slow queries
    tail = [line for line in result["recommendations"] if line.startswith("tail latency on db")]
    assert tail and f"{db['p99']:.1f} ms" in tail[0]


def test_healthy_numbers_get_no_action_advice() -> None:
    result = run(metric="memory_pct", period="7d")  # the cache memory incident is older
    assert result["recommendations"] == ["no action needed: memory_pct looks healthy"]


def test_a_one_hour_period_has_no_trend() -> None:
    result = run(period="1h")
    assert all(stats["trend_pct"] is None for stats in result["services"].values())
