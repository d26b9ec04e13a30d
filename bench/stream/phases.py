"""The two measurements: many users streaming at once, and one finished answer resumed.

**Streaming.** Every user's socket is open (``deltas=1``) before the runs begin. The publishers
start every run (``agent_started``, ``message_started``), then from ``start_at`` hand each user
a stamped token every ``1/rate`` s for ``seconds``, then complete every answer. The first
``warmup_s`` is not measured: latency counts tokens handed over in the window, rates count what
was received in it, and every process's CPU is sampled over it. Then the bench waits until every
socket has its ``agent_completed`` (or nothing arrives for a while).

**Resume.** A user with a live ``deltas=1`` socket gets one answer of ``answer_tokens`` ordinary
tokens, streamed through the same coalescing and completed. Then a fresh ``deltas=1`` socket
resumes with ``after_seq`` = the seq before the run's first event: the bytes of every frame it
receives until ``caught_up``, against the answer's own bytes. The live socket's bytes for the
same run, and the stored events' frames, are what a replay without compaction would send.
"""

from __future__ import annotations

import time
from typing import Any

from bench.phases import Sampler
from bench.stats import LatencyHistogram
from bench.stream.config import StreamConfig
from bench.stream.stamps import latency_summary
from bench.worker import Worker

__all__ = ["Crew", "resume_phase", "stream_phase"]

_SETUP_S_PER_USER = 0.002  # agent_started + message_started per user, before the first token


class Crew:
    """The bench's own processes and the shared count of completed answers."""

    def __init__(self, loadgens: list[Worker], publishers: list[Worker], completed: Any) -> None:
        self.loadgens = loadgens
        self.publishers = publishers
        self.completed = completed

    def completed_total(self) -> int:
        return int(sum(self.completed))

    def everyone(
        self, workers: list[Worker], calls: list[tuple[str, tuple[Any, ...]]], timeout_s: float
    ) -> list[Any]:
        for worker, (method, args) in zip(workers, calls, strict=True):
            worker.send(method, *args)
        return [worker.result(timeout_s) for worker in workers]

    def all_loadgens(self, method: str, *args: Any, timeout_s: float = 120.0) -> list[Any]:
        return self.everyone(self.loadgens, [(method, args)] * len(self.loadgens), timeout_s)

    def stop(self) -> None:
        for worker in self.loadgens + self.publishers:
            worker.stop()


def _wait_completed(crew: Crew, expected: int, patience_s: float, limit_s: float) -> float:
    """Seconds until ``expected`` answers completed, or until none came for ``patience_s``."""
    t0 = time.monotonic()
    last, since = crew.completed_total(), t0
    while last < expected and time.monotonic() - t0 < limit_s:
        time.sleep(0.02)
        now_total = crew.completed_total()
        if now_total != last:
            last, since = now_total, time.monotonic()
        elif time.monotonic() - since > patience_s:
            break
    return time.monotonic() - t0


def stream_phase(
    config: StreamConfig, crew: Crew, entries: list[list[Any]], url: str, pids: dict[str, int]
) -> dict[str, Any]:
    users = [e[0] for per_proc in entries for e in per_proc]
    connected = crew.everyone(
        crew.loadgens,
        [("connect", (per_proc, config.connect_concurrency, 30.0)) for per_proc in entries],
        60.0 + len(users) / 100,
    )
    start_at = time.time() + 1.0 + _SETUP_S_PER_USER * len(users)
    w0, w1 = config.window
    window = (start_at + w0, start_at + w1)
    crew.all_loadgens("set_windows", window, window)
    n_pub = len(crew.publishers)
    offsets = [(user, (i / len(users)) / config.rate) for i, user in enumerate(users)]
    plans = [
        {
            "url": url,
            "users": offsets[j::n_pub],
            "rate": config.rate,
            "start_at": start_at,
            "seconds": config.seconds,
            "window": window,
        }
        for j in range(n_pub)
    ]
    for publisher, plan in zip(crew.publishers, plans, strict=True):
        publisher.send("stream", plan)
    sampler = Sampler(pids)
    time.sleep(max(0.0, window[0] - time.time()))
    sampler.start()
    time.sleep(max(0.0, window[1] - time.time()))
    cpu = sampler.stop()
    pubs = [p.result(config.seconds + 120) for p in crew.publishers]
    drain_s = _wait_completed(crew, len(users), patience_s=5.0, limit_s=60.0)
    reports = crew.all_loadgens("report")
    return _summary(config, connected, pubs, reports, cpu, drain_s)


def _summary(
    config: StreamConfig,
    connected: list[dict[str, Any]],
    pubs: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    cpu: dict[str, float | None],
    drain_s: float,
) -> dict[str, Any]:
    window_s = config.window[1] - config.window[0]
    hist = _merged(reports, "hist")
    flush = _merged(reports, "flush_hist")
    coalesce = _merged(reports, "coalesce_hist")
    lag = [p["handover_lag"] for p in pubs]
    published: dict[str, int] = {}
    for p in pubs:
        for kind, n in p["published"].items():
            published[kind] = published.get(kind, 0) + n
    tokens_rx = sum(r["tokens_rx_window"] for r in reports)
    events_rx = sum(r["events_rx_window"] for r in reports)

    def total(key: str) -> int:
        return sum(r[key] for r in reports)

    return {
        "users": config.users,
        "rate_per_user": config.rate,
        "seconds": config.seconds,
        "window_s": window_s,
        "opened": sum(c["opened"] for c in connected),
        "connect_failed": sum(c["failed"] for c in connected),
        "connect_errors": [e for c in connected for e in c["errors"]],
        "latency": latency_summary(hist, max((r["lat_max_s"] for r in reports), default=None)),
        "delta_latency": latency_summary(flush),  # a delta's flush -> receipt
        "coalesce_latency": latency_summary(coalesce),  # a token's hand-over -> its flush
        "tokens_handed": sum(p["tokens_handed"] for p in pubs),
        "tokens_received": total("tokens"),
        "published": published,
        "delivered_events_per_s": round(events_rx / window_s),
        "delivered_tokens_per_s": round(tokens_rx / window_s),
        "tokens_in_window": tokens_rx,
        "events_in_window": events_rx,
        "events_by_type": _sum_counts(r["types"] for r in reports),
        "bytes_received": total("bytes"),
        "completed": total("completed"),
        "matched": total("matched"),
        "mismatched": total("mismatched"),
        "unfinished": total("unfinished"),
        "out_of_order": total("out_of_order"),
        "closes": _sum_counts(r["closes"] for r in reports),
        "open_sockets": total("open"),
        "failed_answers": sum(p["failed_answers"] for p in pubs),
        "failures": [f for p in pubs for f in p["failures"]],
        "handover_lag_p99_ms": max((x["p99_ms"] or 0.0 for x in lag), default=None),
        "handover_lag_max_ms": max((x["max_ms"] or 0.0 for x in lag), default=None),
        "drain_s": round(drain_s, 2),
        "cpu_percent": cpu,
    }


def _merged(reports: list[dict[str, Any]], name: str) -> LatencyHistogram:
    hist = LatencyHistogram()
    for r in reports:
        hist = hist.merge(LatencyHistogram.from_sparse(r[name], r[f"{name}_total_s"]))
    return hist


def _sum_counts(counts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[str(k)] = out.get(str(k), 0) + v
    return out


def resume_phase(
    config: StreamConfig, crew: Crew, entry: tuple[str, str, int], url: str
) -> dict[str, Any]:
    user = entry[0]
    watcher = crew.loadgens[0]
    watcher.call("connect", [entry], 1, 20.0)
    watcher.call("record", user)
    plan = {"url": url, "user": user, "tokens": config.answer_tokens, "rate": config.answer_rate}
    stored = crew.publishers[0].call(
        "answer", plan, timeout_s=config.answer_tokens / config.answer_rate + 60
    )
    live = _live_bytes(watcher, user)
    resumer = crew.loadgens[-1]
    resumed = resumer.call("resume", entry, stored["after_seq"], 30.0, timeout_s=60.0)
    text = stored["text"]
    answer_bytes = stored["answer_bytes"]
    got = resumed["results"][-1:] == [text] or text in resumed["open_text"].values()
    stored_bytes = sum(size for _, _, size in stored["stored"])
    kinds: dict[str, int] = {}
    for kind, _, _ in stored["stored"]:
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "answer_tokens": config.answer_tokens,
        "answer_rate": config.answer_rate,
        "answer_bytes": answer_bytes,
        "stored_events": kinds,
        "after_seq": stored["after_seq"],
        "last_seq": stored["last_seq"],
        "resume_bytes": resumed["bytes"],
        "resume_ratio": round(resumed["bytes"] / answer_bytes, 3),
        "resume_frames": resumed["frames"],
        "resume_caught_up": resumed["caught_up"],
        "resume_caught_up_ms": resumed["caught_up_ms"],
        "resume_has_answer": got,
        "live_bytes": live["bytes"],
        "live_ratio": round(live["bytes"] / answer_bytes, 3),
        "live_frames": live["frames"],
        # events of the run the live socket never got (it joined just before the run began)
        "live_missing": {
            k: n - live["events"].get(k, 0)
            for k, n in kinds.items()
            if n > live["events"].get(k, 0)
        },
        "stored_frame_bytes": stored_bytes,
        "stored_ratio": round(stored_bytes / answer_bytes, 3),
    }


def _live_bytes(watcher: Worker, user: str, limit_s: float = 15.0) -> dict[str, Any]:
    """The live socket's bytes once its agent_completed is in (or ``limit_s`` passed)."""
    deadline = time.monotonic() + limit_s
    while True:
        live = watcher.call("socket_bytes", user)
        if "agent_completed" in live["frames"] or time.monotonic() > deadline:
            return live
        time.sleep(0.05)
