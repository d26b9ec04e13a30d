"""``analyze_performance``: summary statistics of one metric per service, and what they suggest.

Each recommendation is derived from the numbers it quotes (a wide p99/p50 gap, a rising trend,
low average CPU ...), so a different period or metric gives different advice. Each service
summarized is reported as the call's progress. The numbers come from the generated sample in
:mod:`.metrics`, and the result says so (``source``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from services.tools.builtin import metrics
from services.tools.builtin.metrics import Metric, Period, Service
from services.tools.infra import Infra
from services.tools.registry import NO_PROGRESS, Parameters, Progress, Tool

__all__ = [
    "AnalyzePerformanceParams",
    "SeriesStats",
    "analyze",
    "analyze_performance",
    "summarize",
    "tool",
]


class AnalyzePerformanceParams(Parameters):
    """Which metric to summarize, over which period, for which services."""

    metric: Annotated[Metric, msgspec.Meta(description="the metric to summarize")] = "latency_ms"
    period: Period = "7d"
    service: Annotated[
        Service | None, msgspec.Meta(description="one service, or every service when omitted")
    ] = None

    def __post_init__(self) -> None:
        metrics.check_period(self.period)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    avg: float
    p50: float
    p95: float
    p99: float
    min: float
    max: float
    trend_pct: float | None  # mean of the period's second half vs its first half


def _trend_pct(values: tuple[float, ...]) -> float | None:
    half = len(values) // 2
    if half == 0:
        return None
    before, after = metrics.mean(values[:half]), metrics.mean(values[-half:])
    return None if before == 0 else (after - before) / before * 100


def summarize(values: tuple[float, ...]) -> SeriesStats:
    return SeriesStats(
        avg=metrics.mean(values),
        p50=metrics.percentile(values, 50),
        p95=metrics.percentile(values, 95),
        p99=metrics.percentile(values, 99),
        min=min(values),
        max=max(values),
        trend_pct=_trend_pct(values),
    )


def _rounded(stats: SeriesStats) -> dict[str, float | None]:
    return {key: None if v is None else round(v, 2) for key, v in asdict(stats).items()}


Advice = Callable[[str, SeriesStats], Iterator[str]]


def _latency_advice(service: str, s: SeriesStats) -> Iterator[str]:
    if s.p99 > 3 * s.p50:
        yield (
            f"tail latency on {service}: p99 {s.p99:.1f} ms is {s.p99 / s.p50:.1f}x the median; "
            "look for slow queries, lock contention or GC pauses"
        )
    if s.trend_pct is not None and s.trend_pct > 5:
        yield (
            f"{service} latency is creeping up ({s.trend_pct:+.1f}% over the period); "
            "profile recent changes before it breaches its SLO"
        )
    if s.max > 5 * s.p50:
        yield (
            f"latency spikes on {service}: up to {s.max:.1f} ms, {s.max / s.p50:.0f}x the "
            "median; run detect_anomalies to see when"
        )


def _cpu_advice(service: str, s: SeriesStats) -> Iterator[str]:
    if s.avg < 30:
        yield (
            f"over-provisioned: {service} averages {s.avg:.0f}% CPU (p95 {s.p95:.0f}%); "
            "run estimate_savings to size it down"
        )
    if s.p95 > 75:
        yield (
            f"{service} CPU reaches {s.p95:.0f}% at peak (p95); "
            "add headroom or autoscale before it saturates"
        )


def _memory_advice(service: str, s: SeriesStats) -> Iterator[str]:
    if s.max > 85:
        yield (
            f"memory pressure on {service}: it peaked at {s.max:.0f}% against a median of "
            f"{s.p50:.0f}%; check for leaks and eviction settings"
        )


def _error_advice(service: str, s: SeriesStats) -> Iterator[str]:
    if s.avg > 0.5:
        yield (
            f"{service} fails {s.avg:.2f}% of requests on average; triage its most frequent errors"
        )
    if s.max > 5 * max(s.p50, 0.01):
        yield (
            f"error bursts on {service}: up to {s.max:.2f}% of requests "
            f"(median {s.p50:.2f}%); run detect_anomalies to see when"
        )


def _traffic_advice(service: str, s: SeriesStats) -> Iterator[str]:
    if s.min > 0 and s.max / s.min > 2:
        yield (
            f"traffic on {service} swings {s.max / s.min:.1f}x between quiet and busy hours; "
            "autoscaling would follow it more cheaply than a fixed fleet"
        )


_ADVICE: dict[Metric, Advice] = {
    "latency_ms": _latency_advice,
    "cpu_pct": _cpu_advice,
    "memory_pct": _memory_advice,
    "error_rate": _error_advice,
    "requests_per_s": _traffic_advice,
}


# How "worst" is judged: percentages compare across services, but a batch worker's latency or a
# cache's request rate does not, so those are judged against the service's own median.
_WORST_BY: dict[Metric, tuple[str, Callable[[SeriesStats], float]]] = {
    "latency_ms": ("p99/p50", lambda s: s.p99 / s.p50 if s.p50 else 0.0),
    "cpu_pct": ("p95", lambda s: s.p95),
    "memory_pct": ("p95", lambda s: s.p95),
    "error_rate": ("p95", lambda s: s.p95),
    "requests_per_s": ("max/p50", lambda s: s.max / s.p50 if s.p50 else 0.0),
}


def analyze(params: AnalyzePerformanceParams, *, end: datetime | None = None) -> dict[str, Any]:
    """The report over the period ending at ``end`` (by default the current hour)."""
    end = end or metrics.current_hour()
    hours = metrics.period_hours(params.period)
    stats = {
        svc: summarize(metrics.window(svc, params.metric, hours, end)) for svc in _services(params)
    }
    return _report(params, stats)


def _services(params: AnalyzePerformanceParams) -> list[Service]:
    return [params.service] if params.service else list(metrics.SERVICES)


def _report(params: AnalyzePerformanceParams, stats: dict[Service, SeriesStats]) -> dict[str, Any]:
    hours = metrics.period_hours(params.period)
    advice = [line for svc, s in stats.items() for line in _ADVICE[params.metric](svc, s)]
    worst_by, badness = _WORST_BY[params.metric]
    return {
        "metric": params.metric,
        "unit": metrics.UNITS[params.metric],
        "period": params.period,
        "source": metrics.SOURCE,
        "samples_per_service": min(hours, metrics.HOURS),
        "services": {svc: _rounded(s) for svc, s in stats.items()},
        "worst_service": max(stats, key=lambda svc: badness(stats[svc])),
        "worst_by": worst_by,
        "recommendations": advice or [f"no action needed: {params.metric} looks healthy"],
    }


async def analyze_performance(
    params: AnalyzePerformanceParams,
    *,
    progress: Progress = NO_PROGRESS,
    infra: Infra | None = None,
    caller: str | None = None,
) -> dict[str, Any]:
    """:func:`analyze`, reporting each service as it is done. A few thousand floats each: fast
    enough for the event loop, which gets a turn between services (to publish the progress).
    Latency reflects the changes the caller applied (``apply_recommendation``)."""
    end = metrics.current_hour()
    hours = metrics.period_hours(params.period)
    services = _services(params)
    stats: dict[Service, SeriesStats] = {}
    applied: dict[str, list[str]] = {}
    for done, svc in enumerate(services, start=1):
        values = metrics.window(svc, params.metric, hours, end)
        if infra is not None and caller is not None:
            changes = await infra.changes(caller, svc)
            if changes.applied:
                applied[svc] = list(changes.applied)
                if params.metric == "latency_ms":
                    factor = changes.latency_factor()
                    values = tuple(value * factor for value in values)
        stats[svc] = summarize(values)
        progress(done / len(services), f"{svc}: {done} of {len(services)} services analysed")
        await asyncio.sleep(0)
    report = _report(params, stats)
    if applied:
        report["applied_changes"] = applied
    return report


def tool(infra: Infra) -> Tool:
    """The tool, over the users' changes kept in ``infra``."""

    async def run(
        params: AnalyzePerformanceParams, *, progress: Progress = NO_PROGRESS, caller: str
    ) -> dict[str, Any]:
        return await analyze_performance(params, progress=progress, infra=infra, caller=caller)

    return Tool(
        name="analyze_performance",
        description=(
            "Summarize one metric (avg, p50/p95/p99, min, max, trend) per sample service over a "
            "period ending now, name the worst service and recommend actions. The metrics are a "
            "generated sample, not a live system; changes applied with apply_recommendation "
            "show in it."
        ),
        parameters=AnalyzePerformanceParams,
        run=run,
        reports_progress=True,
        knows_caller=True,
    )
