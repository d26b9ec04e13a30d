import math

import pytest

from bench.stats import CpuSample, LatencyHistogram, cpu_percent, summarize


def test_percentiles_are_within_one_percent_of_the_exact_value():
    hist = LatencyHistogram()
    latencies = [i / 1e5 for i in range(1, 10_001)]  # 10 µs .. 100 ms, uniform
    for latency in latencies:
        hist.add(latency)
    for q in (50, 99, 99.9):
        exact = latencies[math.ceil(len(latencies) * q / 100) - 1]
        assert hist.percentile(q) == pytest.approx(exact, rel=0.01)


def test_a_histogram_of_nothing_has_no_percentiles():
    assert LatencyHistogram().percentile(50) is None
    assert summarize(LatencyHistogram())["p99_ms"] is None


def test_merged_histograms_count_both_sides():
    fast, slow = LatencyHistogram(), LatencyHistogram()
    for _ in range(99):
        fast.add(0.001)
    slow.add(1.0)
    merged = fast.merge(slow)
    assert merged.n == 100
    assert merged.percentile(99) == pytest.approx(0.001, rel=0.01)
    assert merged.percentile(100) == pytest.approx(1.0, rel=0.01)


def test_a_histogram_survives_the_trip_between_processes():
    hist = LatencyHistogram()
    for latency in (0.0002, 0.003, 0.003, 0.5):
        hist.add(latency)
    back = LatencyHistogram.from_sparse(hist.to_sparse(), hist.total_s)
    assert back.counts == hist.counts
    assert summarize(back)["mean_ms"] == pytest.approx(1000 * sum((0.0002, 0.003, 0.003, 0.5)) / 4)


def test_sub_microsecond_and_huge_latencies_land_in_the_end_buckets():
    hist = LatencyHistogram()
    hist.add(-0.001)  # clocks of one machine; still never an index error
    hist.add(10_000.0)
    assert hist.n == 2


def test_cpu_percent_is_per_core():
    before, after = CpuSample(cpu_s=1.0, wall_s=10.0), CpuSample(cpu_s=2.5, wall_s=11.0)
    assert cpu_percent(before, after) == 150.0
    assert cpu_percent(None, after) is None
