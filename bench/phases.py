"""The measured phases, each the same for every system: load, flat out, reconnect probes.

A phase is planned in wall-clock time: the publishers start at ``start_at``, the first
``warmup_s`` is not measured, and the load generators count only what falls in the measured
window (latency: events *published* in it; throughput: events *received* in it). Meanwhile the
bench samples every process's CPU over the same window, so the table can say which process was
the limit.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import merge_hist
from bench.procs import machine_cpu
from bench.stats import CpuSample, cpu_percent, cpu_sample
from bench.worker import Worker

__all__ = ["Fleet", "Sampler", "probe_phase", "publish_phase"]


@dataclass
class Fleet:
    """The bench's own processes, and the shared counters of events received."""

    loadgens: list[Worker]
    publishers: list[Worker]
    delivered: Any
    pids: dict[str, int] = field(default_factory=dict)  # every process worth a CPU figure
    nats_port: int = 0  # the current scenario's nats-server, where the publishers publish

    def delivered_total(self) -> int:
        return int(sum(self.delivered))

    def all_loadgens(self, method: str, *args: Any, timeout_s: float = 120.0) -> list[Any]:
        return _all(self.loadgens, [(method, args)] * len(self.loadgens), timeout_s)


def _all(workers: list[Worker], calls: list[tuple[str, tuple[Any, ...]]], timeout_s: float) -> list:
    for worker, (method, args) in zip(workers, calls, strict=True):
        worker.send(method, *args)
    return [worker.result(timeout_s) for worker in workers]


class Sampler:
    """CPU% of named processes (100 = one core) and of the whole machine over an interval."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, CpuSample | None] = {}
        self._machine: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._before = {name: cpu_sample(pid) for name, pid in self._pids.items()}
        self._machine = machine_cpu()

    def stop(self) -> dict[str, float | None]:
        after = {name: cpu_sample(pid) for name, pid in self._pids.items()}
        busy, total = machine_cpu()
        cores = _cores()
        result = {name: cpu_percent(self._before[name], after[name]) for name in self._pids}
        span = total - self._machine[1]
        machine = 100.0 * cores * (busy - self._machine[0]) / span if span > 0 else None
        result["machine"] = None if machine is None else round(machine, 1)
        ours = sum(v for k, v in result.items() if k != "machine" and v is not None)
        result["others"] = None if machine is None else round(max(0.0, machine - ours), 1)
        return result


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def publish_phase(
    fleet: Fleet,
    users: list[str],
    *,
    rate: float,
    backlog: int,
    warmup_s: float,
    phase_s: float,
    overload_lag: int = 10**12,
) -> dict[str, Any]:
    """Publish to ``users`` (``rate`` events/s, or flat out when 0) and measure one window.

    At a fixed rate the run stops early once ``overload_lag`` events are published but not
    delivered: the system cannot keep up, and queueing for longer would only say so louder.
    """
    start_at = time.time() + 0.3
    window = (start_at + warmup_s, start_at + warmup_s + phase_s)
    reopened = fleet.all_loadgens("reopen")
    if any(r["reopened"] for r in reopened):
        _settle(fleet)  # a resumed socket's replay must not count in this phase
    fleet.all_loadgens("set_windows", window, window)
    n_pub = len(fleet.publishers)
    plans = [
        {
            "port": fleet.nats_port,
            "users": users[j::n_pub],
            "rate": rate / n_pub,
            "start_at": start_at,
            "seconds": warmup_s + phase_s + 0.2,
            "backlog": max(100, backlog // n_pub),
            "overload_lag": max(100, overload_lag // n_pub),
            "window": window,
        }
        for j in range(n_pub)
    ]
    delivered0 = fleet.delivered_total()
    for publisher, plan in zip(fleet.publishers, plans, strict=True):
        publisher.send("publish", plan)
    sampler = Sampler(fleet.pids)
    _sleep_until(window[0])
    sampler.start()
    _sleep_until(window[1])
    cpu = sampler.stop()
    pubs = [p.result(warmup_s + phase_s + 60) for p in fleet.publishers]
    sent = sum(p["sent"] for p in pubs)
    drained = _drain(fleet, delivered0 + sent)
    reports = fleet.all_loadgens("report")
    rx = sum(r["rx_window"] for r in reports)
    return {
        "offered_rate": rate or "flat out",
        "backlog_limit": None if rate else backlog,
        "published": sent,
        "publish_rate": round(sum(p["rate"] for p in pubs)),
        "publish_errors": sum(p["errors"] for p in pubs),
        "published_in_window": sum(p["in_window"] for p in pubs),
        "delivered_in_window": rx,
        "delivered_rate": round(rx / phase_s),
        "undelivered": delivered0 + sent - drained,
        "latency": merge_hist(reports),
        "cpu_percent": cpu,
        "publisher_ticks_blocked_on_backlog": sum(p["ticks_blocked_on_backlog"] for p in pubs),
        "closes": dict(sum((Counter(r["closes"]) for r in reports), Counter())),
        "open_sockets": sum(r["open"] for r in reports),
        "reopened_before": sum(r["reopened"] for r in reopened),
        "overloaded_after_s": max(
            (p["overloaded_after_s"] for p in pubs if p["overloaded_after_s"] is not None),
            default=None,
        ),
    }


def _settle(fleet: Fleet, quiet_s: float = 0.3, limit_s: float = 5.0) -> None:
    """Wait until nothing has arrived for ``quiet_s``."""
    deadline = time.monotonic() + limit_s
    last, since = fleet.delivered_total(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.02)
        if (now_total := fleet.delivered_total()) != last:
            last, since = now_total, time.monotonic()


def _drain(fleet: Fleet, expected: int, patience_s: float = 1.0, limit_s: float = 15.0) -> int:
    """Wait until every published event arrived, or nothing arrived for ``patience_s``."""
    deadline = time.monotonic() + limit_s
    last, last_change = fleet.delivered_total(), time.monotonic()
    while last < expected and time.monotonic() < deadline:
        time.sleep(0.02)
        now_total = fleet.delivered_total()
        if now_total != last:
            last, last_change = now_total, time.monotonic()
        elif time.monotonic() - last_change > patience_s:
            break
    return last


def probe_phase(
    fleet: Fleet,
    users: list[str],
    *,
    rate_per_user: float,
    offline_s: float,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Reconnect probes on load generator 0's first users while events flow to each of them."""
    if not users:
        return {"samples": 0}
    fleet.all_loadgens("reopen")
    rate = rate_per_user * len(users)
    seconds = len(users) * (offline_s + 0.25) + 3.0
    plan = {
        "port": fleet.nats_port,
        "users": users,
        "rate": rate,
        "start_at": time.time(),
        "seconds": seconds,
        "backlog": 10**9,
    }
    fleet.publishers[0].send("publish", plan)
    time.sleep(0.3)  # events are flowing before the first socket drops
    found = fleet.loadgens[0].call(
        "probe", users, offline_s, timeout_s, timeout_s=seconds + len(users) * timeout_s
    )
    fleet.publishers[0].result(seconds + 60)
    return {
        **summarize_probes(found),
        "events_per_s_per_user": rate_per_user,
        "offline_ms": offline_s * 1e3,
    }


def summarize_probes(found: dict[str, Any]) -> dict[str, Any]:
    """Reconnect-to-caught-up when the gateway resumed, else reconnect-to-first-live-event."""
    metric = "caught_up_ms" if found["resume"] else "first_event_ms"
    values = sorted(s[metric] for s in found["samples"] if s[metric] is not None)
    opens = sorted(s["open_ms"] for s in found["samples"] if s["open_ms"] is not None)

    def pct(sorted_values: list[float], q: float) -> float | None:
        if not sorted_values:
            return None
        index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
        return sorted_values[index]

    return {
        "measure": "reconnect-to-caught-up" if found["resume"] else "reconnect-to-first-live-event",
        "samples": len(values),
        "failed": found["failed"] + len(found["samples"]) - len(values),
        "p50_ms": pct(values, 50),
        "p99_ms": pct(values, 99),
        "max_ms": values[-1] if values else None,
        "handshake_p50_ms": pct(opens, 50),
        "stale_events": found["stale"],
    }
