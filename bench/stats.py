"""Latency histograms and process accounting (CPU, RSS), with no I/O beyond ``/proc``.

Latencies go into a log-bucketed histogram (about 1 % wide buckets from 1 µs to beyond 100 s):
constant memory per load-generator process however many events it sees, and histograms from
several processes merge by adding counts.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = [
    "BUCKETS_PER_E",
    "CpuSample",
    "LatencyHistogram",
    "cpu_percent",
    "cpu_sample",
    "rss_bytes",
    "summarize",
]

BUCKETS_PER_E = 100  # buckets per factor e of latency: each ~1 % wide
_N_BUCKETS = int(math.log(1e9) * BUCKETS_PER_E) + 2  # up to ~1,000 s in microseconds
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class LatencyHistogram:
    """Counts of latencies (seconds in, microsecond resolution)."""

    __slots__ = ("counts", "n", "total_s")

    def __init__(self, counts: list[int] | None = None) -> None:
        self.counts = counts if counts is not None else [0] * _N_BUCKETS
        self.n = sum(self.counts)
        self.total_s = 0.0

    @staticmethod
    def bucket(latency_s: float) -> int:
        us = latency_s * 1e6
        if us <= 1.0:
            return 0
        return min(int(math.log(us) * BUCKETS_PER_E) + 1, _N_BUCKETS - 1)

    @staticmethod
    def bucket_value_s(index: int) -> float:
        """A representative latency for bucket ``index``: its geometric middle."""
        if index == 0:
            return 1e-6
        return math.exp((index - 0.5) / BUCKETS_PER_E) / 1e6

    def add(self, latency_s: float) -> None:
        self.counts[self.bucket(latency_s)] += 1
        self.n += 1
        self.total_s += latency_s

    def merge(self, other: LatencyHistogram) -> LatencyHistogram:
        merged = LatencyHistogram([a + b for a, b in zip(self.counts, other.counts, strict=True)])
        merged.total_s = self.total_s + other.total_s
        return merged

    def percentile(self, q: float) -> float | None:
        """The latency (seconds) at or below which ``q`` percent of samples fall."""
        if self.n == 0:
            return None
        rank = max(1, math.ceil(self.n * q / 100.0))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return self.bucket_value_s(index)
        return self.bucket_value_s(len(self.counts) - 1)  # pragma: no cover

    def to_sparse(self) -> dict[int, int]:
        """The non-empty buckets, for sending between processes."""
        return {i: c for i, c in enumerate(self.counts) if c}

    @classmethod
    def from_sparse(cls, sparse: dict[int, int], total_s: float = 0.0) -> LatencyHistogram:
        counts = [0] * _N_BUCKETS
        for index, count in sparse.items():
            counts[int(index)] += count
        hist = cls(counts)
        hist.total_s = total_s
        return hist


def summarize(hist: LatencyHistogram) -> dict[str, float | int | None]:
    """p50/p99/p99.9/max in milliseconds, and the sample count."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1e3, 3)

    return {
        "n": hist.n,
        "p50_ms": ms(hist.percentile(50)),
        "p99_ms": ms(hist.percentile(99)),
        "p999_ms": ms(hist.percentile(99.9)),
        "max_ms": ms(hist.percentile(100)),
        "mean_ms": ms(hist.total_s / hist.n) if hist.n else None,
    }


@dataclass(frozen=True, slots=True)
class CpuSample:
    cpu_s: float  # user + system seconds the process has used
    wall_s: float  # a monotonic clock reading


def cpu_sample(pid: int) -> CpuSample | None:
    """The process's CPU time so far (all threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return CpuSample((utime + stime) / _CLK_TCK, time.monotonic())


def cpu_percent(before: CpuSample | None, after: CpuSample | None) -> float | None:
    """Percent of one core used between two samples (200 = two cores flat out)."""
    if before is None or after is None or after.wall_s <= before.wall_s:
        return None
    return round(100.0 * (after.cpu_s - before.cpu_s) / (after.wall_s - before.wall_s), 1)


def rss_bytes(pid: int) -> int | None:
    """Resident set size, from ``/proc/<pid>/statm``."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return None
