"""``./dev bench stream`` at a tiny scale: real nats-server, gateway, publishers and sockets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bench.stream.config import parse_args
from bench.stream.runner import run

pytestmark = pytest.mark.integration


def test_streamed_answers_arrive_whole_and_are_timed_and_a_resume_is_measured(tmp_path: Path):
    config = replace(
        parse_args(["--users", "20", "--seconds", "2"]),
        warmup_s=0.5,
        answer_tokens=200,
        answer_rate=1000.0,
        clients_procs=1,
        publishers=1,
        max_run_s=60.0,
        results_dir=tmp_path,
    )
    assert run(config) == 0
    (saved,) = tmp_path.glob("stream-*.json")
    results = json.loads(saved.read_text())
    stream = results["stream"]
    assert stream["opened"] == 20
    assert (stream["matched"], stream["mismatched"], stream["unfinished"]) == (20, 0, 0)
    assert stream["tokens_received"] == stream["tokens_handed"] > 0
    assert stream["latency"]["n"] > 0 and stream["latency"]["p99_ms"] is not None
    assert stream["delivered_events_per_s"] > 0
    resume = results["resume"]
    assert resume["resume_caught_up"] and resume["resume_has_answer"]
    assert resume["resume_bytes"] > resume["answer_bytes"]
