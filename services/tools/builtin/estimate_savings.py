"""``estimate_savings``: how many instances each service needs at a target CPU utilisation.

Sizing is against peak CPU, taken as the p95 of the hourly samples so that one bad hour does not
size the fleet, and assumes CPU load spreads evenly over instances. A negative saving means the
service needs more instances than it runs today. The CPU figures come from the generated sample
in :mod:`.metrics`, and the result says so (``source``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

import msgspec

from services.tools.builtin import metrics
from services.tools.builtin.metrics import Period, Service
from services.tools.registry import Parameters, Tool

__all__ = ["HOURS_PER_MONTH", "TOOL", "EstimateSavingsParams", "estimate", "estimate_savings"]

HOURS_PER_MONTH = 730  # 365 * 24 / 12


class EstimateSavingsParams(Parameters):
    """Over which period to measure CPU, how hot to run instances, and what an instance costs."""

    period: Period = "30d"
    target_utilization: Annotated[
        float,
        msgspec.Meta(ge=0.1, le=0.9, description="the peak CPU share each instance should run at"),
    ] = 0.6
    hourly_cost_per_instance: Annotated[
        float, msgspec.Meta(gt=0, le=10_000, description="what one instance costs per hour")
    ] = 0.5

    def __post_init__(self) -> None:
        metrics.check_period(self.period)


def _size(
    service: Service, hours: int, params: EstimateSavingsParams, end: datetime
) -> dict[str, Any]:
    cpu = metrics.window(service, "cpu_pct", hours, end)
    current = metrics.CURRENT_INSTANCES[service]
    peak = metrics.percentile(cpu, 95)
    needed = max(1, math.ceil(current * peak / (params.target_utilization * 100)))
    monthly = params.hourly_cost_per_instance * HOURS_PER_MONTH
    return {
        "current_instances": current,
        "avg_cpu_pct": round(metrics.mean(cpu), 2),
        "peak_cpu_pct": round(peak, 2),
        "needed_instances": needed,
        "monthly_cost_now": round(current * monthly, 2),
        "monthly_savings": round((current - needed) * monthly, 2),
    }


def _total(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cost_now = round(sum(s["monthly_cost_now"] for s in services.values()), 2)
    savings = round(sum(s["monthly_savings"] for s in services.values()), 2)
    return {
        "current_instances": sum(s["current_instances"] for s in services.values()),
        "needed_instances": sum(s["needed_instances"] for s in services.values()),
        "monthly_cost_now": cost_now,
        "monthly_savings": savings,
        "savings_pct": round(savings / cost_now * 100, 2),
    }


def estimate(params: EstimateSavingsParams, *, end: datetime | None = None) -> dict[str, Any]:
    """The sizing over the period ending at ``end`` (by default the current hour)."""
    end = end or metrics.current_hour()
    hours = metrics.period_hours(params.period)
    services = {svc: _size(svc, hours, params, end) for svc in metrics.SERVICES}
    return {
        "period": params.period,
        "source": metrics.SOURCE,
        "target_utilization": params.target_utilization,
        "hourly_cost_per_instance": params.hourly_cost_per_instance,
        "peak": "p95 of hourly cpu_pct",
        "services": services,
        "total": _total(services),
    }


async def estimate_savings(params: EstimateSavingsParams) -> dict[str, Any]:
    # Four percentiles over a few hundred floats: fast enough to compute on the event loop.
    return estimate(params)


TOOL = Tool(
    name="estimate_savings",
    description=(
        "Estimate, per sample service and in total, the instances needed to run peak CPU (p95) "
        "at a target utilization, and the monthly savings against today's fleet. The metrics "
        "are a generated sample, not a live system."
    ),
    parameters=EstimateSavingsParams,
    run=estimate_savings,
)
