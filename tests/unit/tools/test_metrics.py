"""The metrics sample: reproducible, shaped like real traffic, and sliced by period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tools.builtin import metrics

END = datetime(2026, 3, 4, 17, tzinfo=UTC)


def test_sample_is_the_same_every_time_it_is_built_for_the_same_hour() -> None:
    assert metrics.build(END) == metrics.build(END) == metrics.sample(END)


def test_sample_ends_at_the_start_of_the_current_hour() -> None:
    before = datetime.now(UTC)
    end = metrics.current_hour()
    after = datetime.now(UTC)
    assert end.tzinfo is not None and (end.minute, end.second, end.microsecond) == (0, 0, 0)
    assert before - timedelta(hours=1) < end <= after
    assert metrics.current_hour(datetime(2026, 3, 4, 17, 59, 59, tzinfo=UTC)) == END


def test_sample_holds_thirty_days_of_hours_ending_at_its_end() -> None:
    for service in metrics.SERVICES:
        for metric in metrics.METRICS:
            assert len(metrics.sample(END)[service][metric]) == 30 * 24
    assert metrics.time_of(metrics.HOURS - 1, END) == END - timedelta(hours=1)
    assert metrics.time_of(0, END) == END - timedelta(days=30)


def test_incidents_keep_their_age_as_the_clock_moves() -> None:
    later = END + timedelta(days=40)
    for incident in metrics.INCIDENTS:
        assert END - incident.start(END) == later - incident.start(later)
        assert incident.start(END) + timedelta(hours=incident.hours) <= END
        assert END - incident.start(END) < timedelta(days=30)


def test_every_tool_result_says_the_numbers_are_a_generated_sample() -> None:
    assert "generated sample" in metrics.SOURCE


@pytest.mark.parametrize("hour", [0, 9, 14, 23])
def test_traffic_peaks_in_the_afternoon_and_dips_at_night(hour: int) -> None:
    end = END.replace(hour=hour)
    series = metrics.sample(end)["api"]["requests_per_s"]
    at = {
        hour: [v for i, v in enumerate(series) if metrics.hour_of_day(i, end) == hour]
        for hour in (2, 14)
    }
    assert metrics.mean(at[14]) > 1.5 * metrics.mean(at[2])


def test_percentages_stay_between_0_and_100() -> None:
    for service in metrics.SERVICES:
        for metric in ("cpu_pct", "memory_pct", "error_rate"):
            assert all(0 <= v <= 100 for v in metrics.sample(END)[service][metric])


@pytest.mark.parametrize(("period", "hours"), [("1h", 1), ("12h", 12), ("7d", 168), ("30d", 720)])
def test_period_is_read_as_hours(period: str, hours: int) -> None:
    assert metrics.period_hours(period) == hours
    assert len(metrics.window("db", "cpu_pct", hours, END)) == hours


def test_period_longer_than_the_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than the 30d"):
        metrics.check_period("31d")
    metrics.check_period("720h")


def test_percentile_interpolates_between_ranks() -> None:
    values = (1.0, 2.0, 3.0, 4.0, 5.0)
    assert metrics.percentile(values, 50) == 3.0
    assert metrics.percentile(values, 0) == 1.0
    assert metrics.percentile(values, 100) == 5.0
    assert metrics.percentile(values, 95) == pytest.approx(4.8)
    assert metrics.percentile((7.0,), 99) == 7.0
