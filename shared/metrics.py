"""Prometheus metrics at the cost of an integer increment: count in plain Python, export on scrape.

prometheus-client's own ``Counter.labels(...).inc()`` takes a lock and a label lookup per call,
about a microsecond; the gateway delivers tens of thousands of events a second. So the metrics
here are plain objects (:class:`Counter` holds ``value``, an int a hot path adds to; a labelled
one holds a dict per label tuple, for things that happen per run or per socket, not per event),
and a :class:`Registry` hands them to prometheus-client as a custom collector, which renders the
text format only when ``/metrics`` is read. prometheus-client's process collector adds the
usual ``process_*`` series (CPU, memory, open files).

Labels are a closed set: never a user, run or thread id (each would be a new series).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = [
    "CONTENT_TYPE",
    "Counter",
    "Gauge",
    "Histogram",
    "Registry",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a millisecond to a couple of minutes (runs and tools), and the latency range.
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                   30.0, 60.0, 120.0, 300.0)  # fmt: skip
_REFRESH_WITHIN_S = 1.0


class Counter:
    """A counter: ``value += n`` unlabelled (the hot path), ``inc(label, ...)`` labelled."""

    __slots__ = ("by_label", "doc", "labels", "name", "value")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.value = 0
        self.by_label: dict[tuple[str, ...], int] = {}

    def inc(self, *label_values: str, amount: int = 1) -> None:
        key = label_values
        self.by_label[key] = self.by_label.get(key, 0) + amount

    def get(self, *label_values: str) -> int:
        return self.by_label.get(label_values, 0) if self.labels else self.value

    def collect(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        if self.labels:
            for key, value in sorted(self.by_label.items()):
                family.add_metric(list(key), value)
        else:
            family.add_metric([], self.value)
        return family


class Gauge:
    """A value read when scraped: ``read()`` returns it, or ``value`` is set by the owner."""

    __slots__ = ("doc", "name", "read", "value")

    def __init__(self, name: str, doc: str, read: Callable[[], float] | None = None) -> None:
        self.name, self.doc, self.read = name, doc, read
        self.value: float = 0

    def get(self) -> float:
        return self.read() if self.read is not None else self.value

    def collect(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.doc)
        family.add_metric([], self.get())
        return family


class Histogram:
    """A histogram (seconds), optionally with labels from a closed set."""

    __slots__ = ("buckets", "doc", "labels", "name", "series")

    def __init__(
        self,
        name: str,
        doc: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> None:
        self.name, self.doc, self.labels, self.buckets = name, doc, labels, buckets
        # per label tuple: [count per bucket (the last is +Inf)], [sum]
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *label_values: str) -> None:
        series = self.series.get(label_values)
        if series is None:
            series = self.series[label_values] = ([0] * (len(self.buckets) + 1), [0.0])
        series[0][bisect.bisect_left(self.buckets, value)] += 1
        series[1][0] += value

    def count(self, *label_values: str) -> int:
        series = self.series.get(label_values)
        return sum(series[0]) if series else 0

    def collect(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, (counts, total) in sorted(self.series.items()):
            cumulative, running = [], 0
            for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                running += n
                cumulative.append((_bound(bound), running))
            family.add_metric(list(key), cumulative, total[0])
        return family


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


Refresh = Callable[[], Awaitable[None]]
_M = TypeVar("_M", Counter, Gauge, Histogram)


class Registry:
    """One service's metrics; :meth:`render` is the body of ``/metrics``."""

    def __init__(self, *, process: bool = True) -> None:
        self._metrics: list[Counter | Gauge | Histogram] = []
        self._refreshers: list[Refresh] = []
        self._prometheus = CollectorRegistry(auto_describe=False)
        self._prometheus.register(_Collector(self._metrics))
        if process:
            ProcessCollector(registry=self._prometheus)

    def add(self, metric: _M) -> _M:
        self._metrics.append(metric)
        return metric

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return self.add(Counter(name, doc, labels))

    def gauge(self, name: str, doc: str, read: Callable[[], float] | None = None) -> Gauge:
        return self.add(Gauge(name, doc, read))

    def histogram(
        self,
        name: str,
        doc: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DEFAULT_BUCKETS,
    ) -> Histogram:
        return self.add(Histogram(name, doc, labels, buckets))

    def names(self) -> list[str]:
        """The names of this registry's own metrics (not the process collector's)."""
        return [metric.name for metric in self._metrics]

    def before_scrape(self, refresh: Refresh) -> None:
        """Await ``refresh`` (bounded) before each render: a gauge that needs a NATS look."""
        self._refreshers.append(refresh)

    async def render(self) -> bytes:
        for refresh in self._refreshers:
            try:
                await asyncio.wait_for(refresh(), _REFRESH_WITHIN_S)
            except Exception as exc:  # a stale gauge beats no metrics at all
                log.debug("metrics refresh failed: %r", exc)
        return generate_latest(self._prometheus)

    def render_now(self) -> bytes:
        """The text format without the refreshers (a synchronous route)."""
        return generate_latest(self._prometheus)


class _Collector:
    def __init__(self, metrics: list[Counter | Gauge | Histogram]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        for metric in self._metrics:
            yield metric.collect()

    def describe(self) -> Iterable[Metric]:
        return ()
