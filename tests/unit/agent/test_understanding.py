"""What the built-in agent takes a message (and its thread) to be asking."""

from __future__ import annotations

import pytest

from services.agent.understanding import understand


@pytest.mark.parametrize(
    ("message", "metric"),
    [
        ("Why is the api so slow?", "latency_ms"),
        ("p99 over the last day please", "latency_ms"),
        ("How much CPU are the workers burning?", "cpu_pct"),
        ("Is the cache running out of memory?", "memory_pct"),
        ("We are seeing lots of 5xx errors", "error_rate"),
        ("What does traffic look like?", "requests_per_s"),
        ("Check throughput on the db", "requests_per_s"),
        ("CPU first, and latency too", "cpu_pct"),
        ("How are things?", "latency_ms"),
    ],
)
def test_agent_picks_the_metric_the_user_mentions_first(message: str, metric: str) -> None:
    assert understand(message, []).metric == metric


@pytest.mark.parametrize(
    ("message", "period"),
    [
        ("latency over the last 24h", "24h"),
        ("latency in the past 48 hours", "48h"),
        ("latency, last 7 days", "7d"),
        ("latency for the last week", "7d"),
        ("latency over 2 weeks", "14d"),
        ("latency this month", "30d"),
        ("latency today", "24h"),
        ("latency in the last hour", "1h"),
        ("latency", "7d"),
        ("p99 latency", "7d"),
    ],
)
def test_agent_reads_the_period_as_a_tool_period(message: str, period: str) -> None:
    assert understand(message, []).period == period


def test_a_period_beyond_the_thirty_days_of_metrics_is_capped_and_noted() -> None:
    request = understand("latency over the last 90 days", [])

    assert request.period == "30d"
    assert request.period_capped


@pytest.mark.parametrize(
    ("message", "services"),
    [
        ("Why is the api slow?", ("api",)),
        ("database latency", ("db",)),
        ("is redis ok", ("cache",)),
        ("background jobs are slow", ("worker",)),
        ("compare the db and the api", ("db", "api")),
        ("overall latency", ()),
    ],
)
def test_agent_finds_the_services_named(message: str, services: tuple[str, ...]) -> None:
    assert understand(message, []).services == services


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("How much could we save on the fleet?", "savings"),
        ("Our cloud bill is too high", "savings"),
        ("Were there any latency spikes yesterday?", "anomalies"),
        ("We had an incident on the db", "anomalies"),
        ("How is latency?", None),
    ],
)
def test_agent_tells_cost_and_anomaly_questions_apart(message: str, intent: str | None) -> None:
    assert understand(message, []).intent == intent


def test_tool_parameters_carry_exactly_what_was_understood() -> None:
    request = understand("db latency over the last 24h", [])

    assert request.performance_parameters() == {
        "metric": "latency_ms",
        "period": "24h",
        "service": "db",
    }
    assert request.anomaly_parameters(None) == {
        "metric": "latency_ms",
        "period": "24h",
        "z_threshold": 3.0,
    }


def test_a_cost_question_without_a_metric_reads_cpu_over_a_month() -> None:
    request = understand("where are we overspending?", [])

    assert request.metric == "cpu_pct"
    assert request.savings_parameters()["period"] == "30d"


def test_follow_up_keeps_what_it_does_not_say_from_the_thread() -> None:
    history = ["How is the api latency over the last 24h?"]

    request = understand("again for the db", history)

    assert (request.metric, request.period, request.services) == ("latency_ms", "24h", ("db",))
    assert set(request.inherited) == {"metric", "period"}


def test_follow_up_prefers_the_most_recent_earlier_message() -> None:
    history = ["api latency over 24h", "now cpu over the last week"]

    request = understand("and the cache?", history)

    assert (request.metric, request.period, request.services) == ("cpu_pct", "7d", ("cache",))


def test_without_history_nothing_is_inherited() -> None:
    assert understand("again for the db", []).inherited == ()
