"""detect_anomalies: finds the sample's injected incidents, worst first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.tools.builtin import metrics
from services.tools.builtin.detect_anomalies import MAX_LISTED, DetectAnomaliesParams, detect


def run(**params: Any) -> dict[str, Any]:
    return detect(DetectAnomaliesParams(**params))


def iso(hour: datetime) -> str:
    return hour.strftime("%Y-%m-%dT%H:%M:%SZ")


INCIDENT_METRICS = [
    pytest.param(incident, metric, id=f"{incident.service}-{metric}")
    for incident in metrics.INCIDENTS
    for metric in incident.effects
]


@pytest.mark.parametrize(("incident", "metric"), INCIDENT_METRICS)
def test_every_hour_of_every_injected_incident_is_found(incident, metric) -> None:
    result = run(metric=metric, period="30d", service=incident.service)
    found = {a["at"] for a in result["anomalies"]}
    hours = {iso(incident.start + timedelta(hours=h)) for h in range(incident.hours)}
    assert hours <= found


def test_the_default_call_finds_last_weeks_bad_deploy() -> None:
    result = run()
    worst = result["anomalies"][0]
    assert (worst["service"], worst["at"]) == ("api", "2025-08-30T15:00:00Z")
    assert worst["value"] > 4 * worst["expected"]


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
    result = run(metric="memory_pct", service="cache", period="7d")
    assert "2025-08-10T11:00:00Z" not in {a["at"] for a in result["anomalies"]}
    month = run(metric="memory_pct", service="cache", period="30d")
    assert month["anomalies"][0]["at"] == "2025-08-10T11:00:00Z"


def test_result_names_what_was_scanned() -> None:
    result = run(metric="cpu_pct", period="24h", z_threshold=4.5)
    assert (result["metric"], result["period"], result["threshold"]) == ("cpu_pct", "24h", 4.5)
    assert result["unit"] == "%"
    assert result["count"] == len(result["anomalies"])  # under the cap
