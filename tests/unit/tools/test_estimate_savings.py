"""estimate_savings: instance counts and money computed from CPU in the metrics sample."""

from __future__ import annotations

import math
from typing import Any

import pytest

from services.tools.builtin import metrics
from services.tools.builtin.estimate_savings import (
    HOURS_PER_MONTH,
    EstimateSavingsParams,
    estimate,
)


def run(**params: Any) -> dict[str, Any]:
    return estimate(EstimateSavingsParams(**params))


def test_total_is_the_sum_of_the_services() -> None:
    result = run()
    services, total = result["services"].values(), result["total"]
    assert total["monthly_savings"] == pytest.approx(sum(s["monthly_savings"] for s in services))
    assert total["monthly_cost_now"] == pytest.approx(sum(s["monthly_cost_now"] for s in services))
    assert total["needed_instances"] == sum(s["needed_instances"] for s in services)
    assert total["current_instances"] == sum(metrics.CURRENT_INSTANCES.values())
    assert total["savings_pct"] == pytest.approx(
        total["monthly_savings"] / total["monthly_cost_now"] * 100, abs=0.01
    )


def test_needed_instances_run_peak_cpu_at_or_below_the_target() -> None:
    result = run(target_utilization=0.7)
    for service, s in result["services"].items():
        load = s["current_instances"] * s["peak_cpu_pct"]
        assert s["needed_instances"] * 70 >= load - 0.01 * s["current_instances"]
        assert (s["needed_instances"] - 1) * 70 < load or s["needed_instances"] == 1, service


def test_savings_are_instances_freed_times_their_monthly_cost() -> None:
    result = run(hourly_cost_per_instance=1.25)
    for s in result["services"].values():
        freed = s["current_instances"] - s["needed_instances"]
        assert s["monthly_savings"] == pytest.approx(freed * 1.25 * HOURS_PER_MONTH)


def test_cool_services_save_and_hot_ones_need_more() -> None:
    services = run()["services"]
    assert services["cache"]["monthly_savings"] > 0
    assert services["worker"]["monthly_savings"] > 0
    assert services["db"]["needed_instances"] > services["db"]["current_instances"]


def test_peak_is_the_p95_of_hourly_cpu_over_the_period() -> None:
    week = run(period="7d")["services"]["api"]
    expected = metrics.percentile(metrics.window("api", "cpu_pct", 168), 95)
    assert week["peak_cpu_pct"] == round(expected, 2)
    assert week["needed_instances"] == math.ceil(12 * expected / 60)


def test_running_hotter_saves_more() -> None:
    savings = [run(target_utilization=t)["total"]["monthly_savings"] for t in (0.4, 0.6, 0.8)]
    assert savings[0] < savings[1] < savings[2]
