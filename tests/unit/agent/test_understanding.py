"""What the built-in agent takes a message (and its thread) to be asking."""

from __future__ import annotations

import pytest

from services.agent.understanding import edit_distance, read, understand


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


@pytest.mark.parametrize(
    ("message", "services", "metric"),
    [
        ("Any eror spikes in the wroker?", ("worker",), "error_rate"),
        ("how is the latncy of the databse?", ("db",), "latency_ms"),
        ("memroy on the cahce this week", ("cache",), "memory_pct"),
        ("traffc on the wrokers", ("worker",), "requests_per_s"),
    ],
)
def test_service_and_metric_names_tolerate_a_typo(
    message: str, services: tuple[str, ...], metric: str
) -> None:
    request = understand(message, [])

    assert (request.services, request.metric) == (services, metric)
    assert request.in_scope


def test_each_typo_is_recorded_with_what_it_was_read_as() -> None:
    request = understand("Any eror spikes in the wroker?", [])

    assert [(c.typed, c.read_as, c.meaning, c.name) for c in request.corrections] == [
        ("eror", "error", "metric", "error_rate"),
        ("wroker", "worker", "service", "worker"),
    ]
    assert request.intent == "anomalies"


@pytest.mark.parametrize(
    "message",
    [
        "Write me a haiku about cats",
        "Has it worked?",  # one letter from "worker", but a real word
        "Can you handle my request?",
        "I read it throughout the day",
        "wrk on the apu",  # too short to guess at
        "Test agent execution",
    ],
)
def test_ordinary_words_are_never_read_as_a_service_or_metric(message: str) -> None:
    said = read(message)

    assert (said.services, said.metric, said.intent, said.corrections) == ((), None, None, ())


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("wroker", "worker", 1),
        ("eror", "error", 1),
        ("latncy", "latency", 1),
        ("kitten", "sitting", 3),
        ("", "db", 2),
    ],
)
def test_edit_distance_counts_a_swap_of_neighbours_as_one_edit(
    a: str, b: str, distance: int
) -> None:
    assert edit_distance(a, b) == distance == edit_distance(b, a)


@pytest.mark.parametrize(
    "message",
    [
        "Why is the api so slow?",
        "Any error spikes in the worker?",
        "Where could we save money?",
        "How is performance?",
        "is redis ok",
        "p99 over the last day please",
    ],
)
def test_questions_about_the_sample_services_are_in_scope(message: str) -> None:
    assert understand(message, []).in_scope


@pytest.mark.parametrize(
    "message",
    [
        "hello",
        "Write me a haiku about cats",
        "Test agent execution",
        "What is the capital of France?",
        "write a haiku about api latency",  # asks for another kind of writing
        "thanks!",
    ],
)
def test_messages_about_something_else_are_out_of_scope(message: str) -> None:
    assert not understand(message, []).in_scope


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ("and the database?", ("latency_ms", "7d", ("db",))),
        ("what about last month?", ("latency_ms", "30d", ("api",))),
        ("again", ("latency_ms", "7d", ("api",))),
    ],
)
def test_follow_up_to_an_in_scope_question_stays_in_scope(
    follow_up: str, expected: tuple[str, str, tuple[str, ...]]
) -> None:
    request = understand(follow_up, ["How is api latency this week?"])

    assert request.in_scope
    assert (request.metric, request.period, request.services) == expected


def test_a_greeting_in_a_thread_about_latency_is_still_out_of_scope() -> None:
    history = ["How is api latency this week?"]

    assert not understand("hello", history).in_scope
    assert not understand("now write me a poem", history).in_scope
    assert not understand("what about last month?", []).in_scope


@pytest.mark.parametrize(
    ("message", "greeting"),
    [("hello", "hello"), ("Hi there", "hello"), ("thanks!", "thanks"), ("history", None)],
)
def test_a_message_opening_with_a_greeting_is_noticed(message: str, greeting: str | None) -> None:
    assert understand(message, []).greeting == greeting
