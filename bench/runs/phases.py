"""The measured phases: the burst and one open-loop rate, with CPU and the stream check.

A phase is planned in wall-clock time: the load generators start sending at ``start_at``; the
bench meanwhile reads every process's CPU time (``/proc/<pid>/stat``) over the measured window
(CPU %, and which process was the limit) and over the whole phase, first send to last run ended
(agent CPU per run). After the phase it compares each user's received seqs with the stream.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from bench.procs import machine_cpu
from bench.runs import streamcheck
from bench.runs.tally import merge_reports
from bench.runs.verdict import burst_behind, kept_up, limiter, saturated
from bench.stats import CpuSample, cpu_sample
from bench.worker import Worker

__all__ = ["CpuMeter", "Series", "burst_phase", "rate_phase"]

_START_DELAY_S = 0.5  # plans reach every load generator before the first send


@dataclass
class Series:
    """One stack (N agent processes), its load generators, and what every phase reads."""

    loadgens: list[Worker]
    pids: dict[str, int]  # every process worth a CPU figure
    agent_names: list[str]
    operator_url: str  # NATS with full rights, to read the stream
    cores: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))

    def all(self, method: str, *args: Any, timeout_s: float = 120.0) -> list[Any]:
        for worker in self.loadgens:
            worker.send(method, *args)
        return [worker.result(timeout_s) for worker in self.loadgens]


class CpuMeter:
    """CPU seconds and % (100 = one core) of named processes, and of the machine, over a span."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._before: dict[str, CpuSample | None] = {}
        self._machine = (0.0, 0.0)
        self._t0 = 0.0

    def start(self) -> None:
        self._before = {name: cpu_sample(pid) for name, pid in self._pids.items()}
        self._machine = machine_cpu()
        self._t0 = time.monotonic()

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        cpu_s: dict[str, float | None] = {}
        for name, pid in self._pids.items():
            before, after = self._before[name], cpu_sample(pid)
            cpu_s[name] = None if before is None or after is None else after.cpu_s - before.cpu_s
        busy, total = machine_cpu()
        cores = len(os.sched_getaffinity(0))
        span = total - self._machine[1]
        percent: dict[str, float | None] = {
            name: None if s is None or wall <= 0 else round(100 * s / wall, 1)
            for name, s in cpu_s.items()
        }
        machine = 100.0 * cores * (busy - self._machine[0]) / span if span > 0 else None
        ours = sum(v for v in percent.values() if v is not None)
        percent["machine"] = None if machine is None else round(machine, 1)
        percent["others"] = None if machine is None else round(max(0.0, machine - ours), 1)
        return {"wall_s": round(wall, 3), "cpu_s": cpu_s, "percent": percent}


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def burst_phase(series: Series, name: str, timeout_s: float, quiet_s: float) -> dict[str, Any]:
    """One message from every user at the same moment; until every run has ended."""
    lo = asyncio.run(streamcheck.last_seq(series.operator_url))
    start_at = time.time() + _START_DELAY_S
    for worker in series.loadgens:
        worker.send("burst", {"phase": name, "start_at": start_at, "timeout_s": timeout_s})
    meter = CpuMeter(series.pids)
    _sleep_until(start_at)
    meter.start()
    sent = [worker.result(timeout_s + 60) for worker in series.loadgens]
    settled = asyncio.run(streamcheck.settle(series.operator_url, quiet_s, timeout_s))
    cpu = meter.stop()
    merged = merge_reports(series.all("report"))
    phase = _figures(series, name, merged, cpu, cpu, None, lo)
    ended_at = phase.pop("last_ended_at")
    phase["all_ended_s"] = None if ended_at is None else round(ended_at - start_at, 2)
    phase["burst_send_ms"] = max(r["burst_send_ms"] for r in sent)
    phase["settle"] = settled
    phase["last_stored_s"] = round(settled["last_stored_at"] - start_at, 2)
    phase["limited_by"] = limiter(cpu["percent"], series.cores, burst_behind(phase))
    return phase


def rate_phase(
    series: Series,
    name: str,
    rate: float,
    warmup_s: float,
    phase_s: float,
    drain_s: float,
    quiet_s: float,
) -> dict[str, Any]:
    """``rate`` messages/s, open loop, for ``warmup_s + phase_s``; then until the runs end."""
    series.all("reopen")
    lo = asyncio.run(streamcheck.last_seq(series.operator_url))
    start_at = time.time() + _START_DELAY_S
    window = (start_at + warmup_s, start_at + warmup_s + phase_s)
    n = len(series.loadgens)
    for i, worker in enumerate(series.loadgens):
        plan = {
            "phase": name,
            "rate": rate / n,
            "start_at": start_at + i / rate,  # the load generators' sends interleave
            "seconds": warmup_s + phase_s,
            "window": window,
            "drain_s": drain_s,
        }
        worker.send("open_loop", plan)
    whole, measured = CpuMeter(series.pids), CpuMeter(series.pids)
    _sleep_until(start_at)
    whole.start()
    _sleep_until(window[0])
    measured.start()
    _sleep_until(window[1])
    window_cpu = measured.stop()
    for worker in series.loadgens:
        worker.result(phase_s + warmup_s + drain_s + 60)
    settled = asyncio.run(streamcheck.settle(series.operator_url, quiet_s, drain_s))
    whole_cpu = whole.stop()
    merged = merge_reports(series.all("report"))
    phase = _figures(series, name, merged, window_cpu, whole_cpu, rate, lo)
    phase.pop("last_ended_at")
    phase["settle"] = settled
    phase["sustained_rate"] = round(merged["counts"].get("ended_in_window", 0) / phase_s, 1)
    phase["kept_up"] = kept_up(phase)
    phase["saturated"] = saturated(phase)
    phase["limited_by"] = limiter(window_cpu["percent"], series.cores, not phase["kept_up"])
    return phase


def _figures(
    series: Series,
    name: str,
    merged: dict[str, Any],
    window_cpu: dict[str, Any],
    whole_cpu: dict[str, Any],
    rate: float | None,
    lo: int,
) -> dict[str, Any]:
    counts = merged["counts"]
    runs_ended = counts.get("ended", 0) + counts.get("orphan_runs_ended", 0)
    agent_cpu_s = sum(whole_cpu["cpu_s"].get(a) or 0.0 for a in series.agent_names)
    return {
        "name": name,
        "offered_rate": rate,
        **merged,
        "runs_ended": runs_ended,
        "agent_cpu_s": round(agent_cpu_s, 3),
        "agent_cpu_ms_per_run": round(1e3 * agent_cpu_s / runs_ended, 2) if runs_ended else None,
        "events_per_run": round(counts.get("events_of_ended_runs", 0) / counts["ended"], 1)
        if counts.get("ended")
        else None,
        "cpu_percent": window_cpu["percent"],
        "cpu_whole": whole_cpu,
        "stream": check_stream(series, lo),
    }


def check_stream(series: Series, lo: int, retries: int = 2) -> dict[str, int]:
    """Compare the stream's seqs after ``lo`` with what the sockets received."""
    url = series.operator_url
    hi = asyncio.run(streamcheck.last_seq(url))
    stored = asyncio.run(streamcheck.stored_seqs(url, lo, hi))
    for attempt in range(retries + 1):
        received: dict[str, list[int]] = {}
        for part in series.all("seqs", lo, hi):
            received.update(part)
        result = streamcheck.compare(stored, received)
        if result["lost"] == 0 or attempt == retries:
            return {**result, "from_seq": lo + 1, "to_seq": hi}
        time.sleep(1.0)  # the last events may still be on their way
    raise AssertionError("unreachable")  # pragma: no cover
