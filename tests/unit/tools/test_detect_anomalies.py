"""detect_anomalies: finds the sample's injected incidents, worst first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.tools.builtin import metrics
from services.tools.builtin.detect_anomalies import MAX_LISTED, DetectAnomaliesParams, detect

END = datetime(2026, 3, 4, 17, tzinfo=UTC)


def run(*, end: datetime = END, **params: Any) -> dict[str, Any]:
    return detect(DetectAnomaliesParams(**params), end=end)


def iso(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:%M:%SZ")


INCIDENT_METRICS = [
    pytest.param(incident, metric, id=f"{incident.service}-{metric}")
    for incident in metrics.INCIDENTS
    for metric in incident.effects
]


@pytest.mark.parametrize("hour", [0, 7, 15, 23])  # whatever hour of day it is now
@pytest.mark.parametrize(("incident", "metric"), INCIDENT_METRICS)
def test_every_hour_of_every_injected_incident_is_found(incident, metric, hour: int) -> None:
    end = END.replace(hour=hour)
    result = run(metric=metric, period="30d", service=incident.service, end=end)
    found = {a["at"] for a in result["anomalies"]}
    hours = {iso(incident.start(end) + timedelta(hours=h)) for h in range(incident.hours)}
    assert hours <= found


@pytest.mark.parametrize("hour", [0, 9, 17])
def test_the_default_call_puts_the_bad_deploy_two_days_ago_among_the_largest(hour: int) -> None:
    result = run(end=END.replace(hour=hour))
    largest = {(a["service"], a["at"]): a for a in result["anomalies"][:5]}
    deploy = [("api", f"2026-03-02T{h}:00:00Z") for h in (15, 16, 17)]
    assert set(deploy) <= set(largest)
    assert all(largest[hour]["value"] > 4 * largest[hour]["expected"] for hour in deploy)


def test_anomalies_are_dated_within_the_period_ending_now() -> None:
    before = datetime.now(UTC)
    result = detect(DetectAnomaliesParams(period="7d", z_threshold=2.0))
    after = datetime.now(UTC)

    dates = [datetime.fromisoformat(a["at"]) for a in result["anomalies"]]
    assert dates and all(before - timedelta(days=7, hours=1) < at < after for at in dates)
    assert result["source"] == metrics.SOURCE


def test_anomalies_are_sorted_by_size_and_capped() -> None:
    result = run(metric="latency_ms", period="30d", z_threshold=1.0)
    sizes = [abs(a["z"]) for a in result["anomalies"]]
    assert sizes == sorted(sizes, reverse=True)
    assert len(result["anomalies"]) == MAX_LISTED < result["count"]
    assert all(size >= 1.0 for size in sizes)


def test_a_higher_threshold_finds_fewer() -> None:
    counts = [run(metric="error_rate", period="30d", z_threshold=z)["count"] for z in (2, 3, 6)]
    assert counts[0] > counts[1] > counts[2] > 0


def test_incidents_outside_the_period_are_not_reported() -> None:
    eviction_storm = "2026-02-10T11:00:00Z"  # 22 days before END's date
    result = run(metric="memory_pct", service="cache", period="7d")
    assert eviction_storm not in {a["at"] for a in result["anomalies"]}
    month = run(metric="memory_pct", service="cache", period="30d")
    assert month["anomalies"][0]["at"] == eviction_storm


def test_result_names_what_was_scanned() -> None:
    result = run(metric="cpu_pct", period="24h", z_threshold=4.5)
    assert (result["metric"], result["period"], result["threshold"]) == ("cpu_pct", "24h", 4.5)
    assert result["unit"] == "%"
    assert result["count"] == len(result["anomalies"])  # under the cap
