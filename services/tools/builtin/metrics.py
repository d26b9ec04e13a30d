"""The metrics sample every built-in tool computes from: generated, deterministic, tiny.

Thirty days of hourly samples for four services and five metrics, ending at the start of the
current UTC hour (:func:`current_hour`), so "this week" means the seven days up to now. The
numbers are drawn from a seeded :class:`random.Random` (per service, never per clock), so every
process and every test that asks for the same end hour sees the same numbers (no network, no
files, no numpy); only the hour of day each sample falls on moves with the clock. It is not live
data, and every tool says so in its result (:data:`SOURCE`). Its shape is what makes the tools'
answers worth reading:

- daily seasonality: traffic peaks at 14:00 UTC and bottoms out at 02:00;
- per-service baselines (:data:`BASELINES`): ``cache`` and ``worker`` run cool (over-provisioned),
  ``api`` runs warm;
- noise, with a heavier tail on ``db`` latency (occasional slow queries);
- a slow upward latency trend on ``api`` (+40% over the 30 days);
- the incidents in :data:`INCIDENTS`, dated some days before the end, which anomaly detection
  should find.

Index ``i`` of a series is the hour starting at ``end - (HOURS - i) hours``.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Annotated, Literal, get_args

import msgspec

__all__ = [
    "BASELINES",
    "CURRENT_INSTANCES",
    "HOURS",
    "INCIDENTS",
    "MAX_PERIOD_HOURS",
    "METRICS",
    "SERVICES",
    "SOURCE",
    "UNITS",
    "Baseline",
    "Incident",
    "Metric",
    "Period",
    "Service",
    "build",
    "check_period",
    "current_hour",
    "hour_of_day",
    "mean",
    "percentile",
    "period_hours",
    "sample",
    "time_of",
    "window",
]

Service = Literal["api", "db", "cache", "worker"]
Metric = Literal["latency_ms", "cpu_pct", "memory_pct", "error_rate", "requests_per_s"]
SERVICES: tuple[Service, ...] = get_args(Service)
METRICS: tuple[Metric, ...] = get_args(Metric)

HOURS = 30 * 24
MAX_PERIOD_HOURS = HOURS
#: What every tool computing from this sample says its numbers are.
SOURCE = "generated sample, not live metrics"

Period = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[1-9][0-9]{0,2}[hd]$",
        description="how far back from now to look: hours ('12h') or days ('7d'), at most 30d",
        examples=["24h", "7d", "30d"],
    ),
]

UNITS: Mapping[Metric, str] = MappingProxyType(
    {
        "latency_ms": "ms",
        "cpu_pct": "%",
        "memory_pct": "%",
        "error_rate": "% of requests",
        "requests_per_s": "requests/s",
    }
)

#: Instances each service runs today; estimate_savings sizes against these.
CURRENT_INSTANCES: Mapping[Service, int] = MappingProxyType(
    {"api": 12, "db": 4, "cache": 6, "worker": 10}
)


@dataclass(frozen=True, slots=True)
class Baseline:
    """A service's typical value of each metric at average load, and how strongly load swings."""

    latency_ms: float
    cpu_pct: float
    memory_pct: float
    error_rate: float
    requests_per_s: float
    daily_swing: float


BASELINES: Mapping[Service, Baseline] = MappingProxyType(
    {
        "api": Baseline(45.0, 48.0, 62.0, 0.40, 850.0, daily_swing=0.35),
        "db": Baseline(12.0, 58.0, 71.0, 0.05, 2400.0, daily_swing=0.30),
        "cache": Baseline(1.2, 17.0, 55.0, 0.01, 6000.0, daily_swing=0.30),
        "worker": Baseline(220.0, 24.0, 48.0, 0.80, 120.0, daily_swing=0.15),
    }
)


@dataclass(frozen=True, slots=True)
class Incident:
    """A stretch of hours where some metrics of one service were multiplied by a factor.

    Dated relative to the sample's end: ``days_ago`` days before the end's date, at ``hour``
    o'clock UTC, so it stays the same number of days old whenever the sample is built.
    """

    service: Service
    days_ago: int
    hour: int
    hours: int
    effects: Mapping[Metric, float]
    what: str

    def start(self, end: datetime) -> datetime:
        midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=self.days_ago) + timedelta(hours=self.hour)


# The oldest is three weeks back and the newest two days, so a week and a month see different ones.
INCIDENTS: tuple[Incident, ...] = (
    Incident(
        "cache",
        days_ago=22,
        hour=11,
        hours=1,
        effects={"memory_pct": 1.6, "latency_ms": 10.0},
        what="eviction storm",
    ),
    Incident(
        "db",
        days_ago=13,
        hour=3,
        hours=2,
        effects={"cpu_pct": 1.9, "latency_ms": 9.0},
        what="lock contention during a migration",
    ),
    Incident(
        "worker",
        days_ago=5,
        hour=21,
        hours=4,
        effects={"error_rate": 15.0, "requests_per_s": 3.0},
        what="retry storm",
    ),
    Incident(
        "api",
        days_ago=2,
        hour=15,
        hours=3,
        effects={"latency_ms": 5.0, "error_rate": 12.0},
        what="bad deploy, rolled back",
    ),
)

_API_LATENCY_GROWTH = 0.40  # over the whole sample
_SLOW_QUERY_CHANCE = 0.02  # db only: the heavy tail analyze_performance should call out


def current_hour(now: datetime | None = None) -> datetime:
    """Where the sample ends: the start of the current hour (UTC), so its last sample is the hour
    just finished."""
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    return now.replace(minute=0, second=0, microsecond=0)


def time_of(index: int, end: datetime | None = None) -> datetime:
    """The start of the hour that sample ``index`` covers, in the sample ending at ``end``."""
    return (end or current_hour()) - timedelta(hours=HOURS - index)


def hour_of_day(index: int, end: datetime | None = None) -> int:
    return time_of(index, end).hour


def _load(hour: int, swing: float) -> float:
    """Relative traffic at this hour of day: 1 on average, peaking at 14:00 UTC."""
    return 1.0 + swing * math.sin(2 * math.pi * (hour - 8) / 24)


def _hourly_values(
    service: Service, index: int, hour: int, rng: random.Random
) -> dict[Metric, float]:
    base = BASELINES[service]
    load = _load(hour, base.daily_swing)
    latency = base.latency_ms * (1 + 0.5 * (load - 1)) * rng.lognormvariate(0, 0.12)
    if service == "api":
        latency *= 1 + _API_LATENCY_GROWTH * index / HOURS
    if service == "db" and rng.random() < _SLOW_QUERY_CHANCE:
        latency *= rng.uniform(3.5, 5.0)
    return {
        "latency_ms": latency,
        "cpu_pct": base.cpu_pct * load * rng.gauss(1, 0.05),
        "memory_pct": base.memory_pct * (1 + 0.05 * (load - 1)) + rng.gauss(0, 1.0),
        "error_rate": base.error_rate * load**2 * rng.lognormvariate(0, 0.2),
        "requests_per_s": base.requests_per_s * load * rng.gauss(1, 0.06),
    }


def _apply_incidents(
    service: Service, at: datetime, end: datetime, values: dict[Metric, float]
) -> None:
    for incident in INCIDENTS:
        start = incident.start(end)
        if incident.service == service and start <= at < start + timedelta(hours=incident.hours):
            for metric, factor in incident.effects.items():
                values[metric] *= factor


def _clamp(metric: Metric, value: float) -> float:
    upper = 100.0 if metric in ("cpu_pct", "memory_pct", "error_rate") else math.inf
    return min(max(value, 0.0), upper)


def _service_series(service: Service, end: datetime) -> Mapping[Metric, tuple[float, ...]]:
    # Seeded by the service alone (str seeds are stable across runs): the same draws whatever the
    # end, so a property of the sample (how many slow queries db has) does not depend on the clock.
    rng = random.Random(f"agentwire-metrics-{service}")
    columns: dict[Metric, list[float]] = {metric: [] for metric in METRICS}
    for index in range(HOURS):
        at = time_of(index, end)
        values = _hourly_values(service, index, at.hour, rng)
        _apply_incidents(service, at, end, values)
        for metric in METRICS:
            columns[metric].append(_clamp(metric, values[metric]))
    return MappingProxyType({metric: tuple(column) for metric, column in columns.items()})


def build(end: datetime) -> Mapping[Service, Mapping[Metric, tuple[float, ...]]]:
    """The whole sample ending at ``end`` (the start of an hour), built afresh."""
    return MappingProxyType({service: _service_series(service, end) for service in SERVICES})


@functools.lru_cache(maxsize=2)  # this hour's, and the last one's for a call that straddles it
def _built(end: datetime) -> Mapping[Service, Mapping[Metric, tuple[float, ...]]]:
    return build(end)


def sample(end: datetime | None = None) -> Mapping[Service, Mapping[Metric, tuple[float, ...]]]:
    """The sample ending at ``end`` (by default the current hour), built once and shared
    read-only. A tool reads :func:`current_hour` once per call and passes it on, so one answer
    never mixes two hours."""
    return _built(end or current_hour())


def window(
    service: Service, metric: Metric, hours: int, end: datetime | None = None
) -> tuple[float, ...]:
    """The last ``hours`` samples of one series (the whole series if ``hours`` exceeds it)."""
    return sample(end)[service][metric][-hours:]


def period_hours(period: str) -> int:
    """'12h' -> 12, '7d' -> 168. The pattern on :data:`Period` has already vetted the format."""
    count, unit = int(period[:-1]), period[-1]
    return count * 24 if unit == "d" else count


def check_period(period: str) -> None:
    """Refuse a period longer than the sample (raised from a Struct's ``__post_init__``, so
    msgspec reports it as a validation error like any other)."""
    if period_hours(period) > MAX_PERIOD_HOURS:
        raise ValueError(f"period {period!r} is longer than the 30d of metrics available")


def mean(values: tuple[float, ...] | list[float]) -> float:
    return sum(values) / len(values)


def percentile(values: tuple[float, ...] | list[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), for 0 <= pct <= 100."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
