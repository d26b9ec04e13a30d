import math

import pytest

from bench.stats import LatencyHistogram
from bench.stream.stamps import (
    answer_tokens,
    latency_summary,
    stamp_token,
    stamped_at,
    tokens_due,
)


def test_a_stamped_token_gives_back_its_hand_over_time_to_the_microsecond():
    token = stamp_token(1_765_070_000.123456)
    assert token.endswith(" ") and token.startswith("t")
    assert stamped_at(token) == [pytest.approx(1_765_070_000.123456, abs=1e-6)]


def test_every_stamp_of_a_coalesced_delta_is_found_and_other_words_are_skipped():
    delta = stamp_token(10.0) + stamp_token(10.02) + " the t p99 tX1 " + stamp_token(10.04)
    assert stamped_at(delta) == pytest.approx([10.0, 10.02, 10.04])
    assert stamped_at("") == []


def test_tokens_are_due_from_the_first_one_at_time_zero_at_the_stream_rate():
    assert tokens_due(-0.001, 50) == 0
    assert tokens_due(0.0, 50) == 1
    assert tokens_due(0.0199, 50) == 1
    assert tokens_due(0.02, 50) == 2  # exactly on the schedule, despite float rounding
    assert tokens_due(1.0, 50) == 51


def test_the_resumed_answer_is_made_of_ordinary_tokens_of_a_few_bytes_each():
    tokens = answer_tokens(2000)
    assert len(tokens) == 2000
    size = len("".join(tokens).encode())
    assert 3 * 2000 <= size <= 6 * 2000
    assert stamped_at("".join(tokens)) == []  # no stamp: the resume has no latency samples


def test_the_summary_gives_p50_p95_p99_and_the_exact_max_in_milliseconds():
    hist = LatencyHistogram()
    latencies = [i / 1e4 for i in range(1, 1001)]  # 0.1 .. 100 ms
    for latency in latencies:
        hist.add(latency)
    summary = latency_summary(hist, exact_max_s=0.1)
    assert summary["n"] == 1000
    for key, q in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        exact = latencies[math.ceil(1000 * q / 100) - 1] * 1e3
        assert summary[key] == pytest.approx(exact, rel=0.01)
    assert summary["max_ms"] == 100.0


def test_a_summary_of_no_tokens_has_no_percentiles():
    summary = latency_summary(LatencyHistogram())
    assert summary["n"] == 0 and summary["p99_ms"] is None and summary["mean_ms"] is None
