"""``detect_anomalies``: hours where a metric left its usual range for that hour of day.

A plain z-score over the window would flag every busy afternoon, because traffic has a daily
cycle. So each value is compared with the median of the same service and metric at the same hour
of day over the whole sample, and the gap is measured in robust standard deviations
(1.4826 x the median absolute gap), which a few spikes cannot inflate. Each anomaly's ``at`` is
the hour it started (UTC), within the period ending at the current hour; the sample is generated
(:mod:`.metrics`) and the result says so (``source``).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any

import msgspec

from services.tools.builtin import metrics
from services.tools.builtin.metrics import Metric, Period, Service
from services.tools.registry import Parameters, Tool

__all__ = [
    "MAX_LISTED",
    "TOOL",
    "DetectAnomaliesParams",
    "SeasonalBaseline",
    "detect",
    "detect_anomalies",
    "seasonal_baseline",
]

MAX_LISTED = 20
_MAD_TO_SIGMA = 1.4826  # makes the median absolute deviation estimate a normal sigma


class DetectAnomaliesParams(Parameters):
    """Which metric to scan, over which period, for which services, and how far is unusual."""

    metric: Annotated[Metric, msgspec.Meta(description="the metric to scan")] = "latency_ms"
    period: Period = "7d"
    service: Annotated[
        Service | None, msgspec.Meta(description="one service, or every service when omitted")
    ] = None
    z_threshold: Annotated[
        float,
        msgspec.Meta(
            ge=1.0,
            le=10.0,
            description="how many robust standard deviations from "
            "the usual value for that hour of day count as an anomaly",
        ),
    ] = 3.0

    def __post_init__(self) -> None:
        metrics.check_period(self.period)


class SeasonalBaseline(msgspec.Struct, frozen=True):
    expected_by_hour: tuple[float, ...]  # 24 medians, one per hour of day (UTC)
    sigma: float

    def z(self, hour: int, value: float) -> float:
        return (value - self.expected_by_hour[hour]) / self.sigma


@functools.lru_cache(maxsize=2 * len(metrics.SERVICES) * len(metrics.METRICS))  # two hours' worth
def seasonal_baseline(service: Service, metric: Metric, end: datetime) -> SeasonalBaseline:
    series = metrics.sample(end)[service][metric]
    hours = [metrics.hour_of_day(index, end) for index in range(len(series))]
    by_hour: list[list[float]] = [[] for _ in range(24)]
    for hour, value in zip(hours, series, strict=True):
        by_hour[hour].append(value)
    expected = tuple(metrics.percentile(values, 50) for values in by_hour)
    gaps = [abs(v - expected[hour]) for hour, v in zip(hours, series, strict=True)]
    sigma = _MAD_TO_SIGMA * metrics.percentile(gaps, 50)
    return SeasonalBaseline(expected, max(sigma, 1e-9))  # a flat series has no spread


def _scan(
    service: Service, metric: Metric, hours: int, threshold: float, end: datetime
) -> list[dict[str, Any]]:
    baseline = seasonal_baseline(service, metric, end)
    first = metrics.HOURS - min(hours, metrics.HOURS)
    series = metrics.sample(end)[service][metric]
    found = []
    for index in range(first, metrics.HOURS):
        at = metrics.time_of(index, end)
        z = baseline.z(at.hour, series[index])
        if abs(z) >= threshold:
            found.append(
                {
                    "service": service,
                    "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "value": round(series[index], 2),
                    "expected": round(baseline.expected_by_hour[at.hour], 2),
                    "z": round(z, 2),
                }
            )
    return found


def detect(params: DetectAnomaliesParams, *, end: datetime | None = None) -> dict[str, Any]:
    """The anomalies in the period ending at ``end`` (by default the current hour)."""
    end = end or metrics.current_hour()
    hours = metrics.period_hours(params.period)
    services = [params.service] if params.service else list(metrics.SERVICES)
    found = [
        anomaly
        for svc in services
        for anomaly in _scan(svc, params.metric, hours, params.z_threshold, end)
    ]
    found.sort(key=lambda anomaly: (-abs(anomaly["z"]), anomaly["at"], anomaly["service"]))
    return {
        "metric": params.metric,
        "unit": metrics.UNITS[params.metric],
        "period": params.period,
        "source": metrics.SOURCE,
        "threshold": params.z_threshold,
        "anomalies": found[:MAX_LISTED],
        "count": len(found),
    }


async def detect_anomalies(params: DetectAnomaliesParams) -> dict[str, Any]:
    # A few thousand floats: fast enough to compute on the event loop.
    return detect(params)


TOOL = Tool(
    name="detect_anomalies",
    description=(
        "List the hours (UTC, within a period ending now) where a sample service's metric "
        "strayed furthest from its usual value for that hour of day (seasonal robust z-score), "
        "worst first, at most 20, with the total count. The metrics are a generated sample, "
        "not a live system."
    ),
    parameters=DetectAnomaliesParams,
    run=detect_anomalies,
)
