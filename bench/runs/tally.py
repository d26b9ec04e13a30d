"""A phase's figures: folded from one load generator's :class:`~bench.runs.checker.Checker`, then
merged over every load generator (sans I/O).

Latencies count the messages *sent* in the phase's measured window (and, for event delivery,
the events *published* in it); counts cover every message of the phase. A report is plain data
(dicts, ints, sparse histograms), so it crosses the pipe from a worker process as it is.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.runs.checker import Checker, Tally
from bench.stats import LatencyHistogram, summarize

__all__ = ["HISTOGRAMS", "merge_reports", "phase_report"]

# What each histogram times, all in the load generator's clock (the services' clock for
# ``delivery``: the same machine).
HISTOGRAMS = {
    "answer": "send -> run_accepted or error (what the user waits for)",
    "accept": "send -> run_accepted",
    "started": "send -> agent_started",
    "ended": "send -> terminal event",
    "delivery": "event data.timestamp -> receipt",
    "send_lag": "scheduled send -> actual send (the load generator's own lag)",
}
_COUNTERS = ("counts", "terminals", "failures", "errors", "message_errors", "problems", "closes")


def _window(at: float, window: tuple[float, float]) -> bool:
    return window[0] <= at < window[1]


def phase_report(checker: Checker, tally: Tally, window: tuple[float, float]) -> dict[str, Any]:
    """One load generator's figures for the phase ``tally`` belongs to."""
    hists = {name: LatencyHistogram() for name in HISTOGRAMS}
    hists["delivery"] = tally.delivery
    counts: Counter[str] = Counter(events=tally.events, unparsed=tally.unparsed)
    terminals: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    message_errors: Counter[str] = Counter()
    last_ended_at: float | None = None
    for message in checker.by_phase.get(tally.phase, []):
        counts["sent"] += 1
        measured = _window(message.due_at, window)
        if measured:
            hists["send_lag"].add(message.sent_at - message.due_at)
            if message.answered_at is not None:
                hists["answer"].add(message.answered_at - message.sent_at)
        if message.error is not None:
            message_errors[message.error] += 1
        if message.run_id is None:
            counts["unanswered" if message.error is None else "refused"] += 1
            continue
        counts["accepted"] += 1
        run = checker.runs[message.run_id]
        if measured and message.answered_at is not None:
            hists["accept"].add(message.answered_at - message.sent_at)
        if measured and run.started_at is not None:
            hists["started"].add(run.started_at - message.sent_at)
        if run.ended_at is None:
            counts["unfinished"] += 1
            continue
        counts["ended"] += 1
        counts["events_of_ended_runs"] += run.events
        terminals[run.terminal or "?"] += 1
        if run.failure is not None:
            failures[run.failure] += 1
        if measured:
            hists["ended"].add(run.ended_at - message.sent_at)
        if _window(run.ended_at, window):
            counts["ended_in_window"] += 1  # the sustained rate: this phase's runs only
        last_ended_at = max(last_ended_at or run.ended_at, run.ended_at)
    for run in checker.runs.values():
        if run.ended_at is not None and _window(run.ended_at, window):
            counts["any_ended_in_window"] += 1  # earlier phases' and orphan runs too
        if run.message is None and run.phase == tally.phase:
            counts["orphan_runs"] += 1  # events for a run no run_accepted of ours named
            counts["orphan_runs_ended"] += run.ended_at is not None
    return {
        "counts": dict(counts),
        "terminals": dict(terminals),
        "failures": dict(failures),
        "errors": dict(tally.errors),  # error frames received during the phase, by code
        "message_errors": dict(message_errors),  # this phase's messages answered by an error
        "problems": dict(tally.problems),
        "closes": {},
        "hists": {name: (h.to_sparse(), h.total_s) for name, h in hists.items()},
        "last_ended_at": last_ended_at,
    }


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Several load generators' reports of one phase as one."""
    merged: dict[str, Any] = {key: Counter() for key in _COUNTERS}
    hists = {name: LatencyHistogram() for name in HISTOGRAMS}
    ends = []
    for report in reports:
        for key in _COUNTERS:
            merged[key].update(report.get(key, {}))
        for name, (sparse, total_s) in report["hists"].items():
            hists[name] = hists[name].merge(LatencyHistogram.from_sparse(sparse, total_s))
        if report["last_ended_at"] is not None:
            ends.append(report["last_ended_at"])
    out = {key: dict(value) for key, value in merged.items()}
    out["latency"] = {name: summarize(hist) for name, hist in hists.items()}
    out["last_ended_at"] = max(ends, default=None)
    return out
