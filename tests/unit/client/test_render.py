"""The terminal timeline, rendered into a recording console."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from agentwire_client.render import Timeline, format_duration, format_params, summarize


def render(*frames: dict[str, Any]) -> str:
    console = Console(record=True, width=120, color_system=None)
    timeline = Timeline(console)
    for frame in frames:
        timeline.frame(frame)
    return console.export_text()


def ev(kind: str, seq: int, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": kind, "run_id": "run12345678", "thread_id": "t", "data": data}


def test_a_run_reads_as_a_timeline_with_tool_results_and_durations() -> None:
    text = render(
        ev("agent_started", 1, agent_id="infra_analyst", message="Starting", timestamp=10.0),
        ev("agent_thinking", 2, agent_id="a", thought="Looking at [bold]latency[/]"),
        ev(
            "tool_executing",
            3,
            tool_call_id="c1",
            tool_name="analyze_performance",
            parameters={"service": "api", "period": "7d"},
        ),
        ev(
            "tool_completed",
            4,
            tool_call_id="c1",
            tool_name="analyze_performance",
            result={"service": "api", "worst_service": "api", "anomalies": [1, 2, 3]},
            duration_ms=42.4,
        ),
        ev("agent_completed", 5, agent_id="a", result="The api is slow.", timestamp=12.5),
    )
    assert "▶ infra_analyst  Starting" in text
    assert "Looking at [bold]latency[/]" in text, "server text is never read as markup"
    assert "⚙ analyze_performance(service=api, period=7d)" in text
    assert "✓ analyze_performance  42 ms  → worst_service: api · anomalies: 3 items" in text
    assert "answer · 2.5 s" in text and "The api is slow." in text


def test_failures_cancellations_and_tool_errors_are_plain() -> None:
    text = render(
        ev(
            "tool_completed",
            1,
            tool_call_id="c",
            tool_name="t",
            result=None,
            duration_ms=5,
            error={"code": "tool_timeout", "message": "ran past 30 s"},
        ),
        ev("agent_failed", 2, agent_id="a", code="tool_timeout", message="a tool timed out"),
        ev("agent_cancelled", 3, agent_id="a", reason="cancelled by the user"),
        {"type": "error", "data": {"code": "run_not_found", "message": "no such run"}},
    )
    assert "✗ t  5 ms  tool_timeout: ran past 30 s" in text
    assert "✗ a tool took too long: a tool timed out  (tool_timeout)" in text
    assert "■ cancelled cancelled by the user" in text
    assert "! run_not_found: no such run" in text


def test_a_queued_run_says_what_it_waits_for_until_it_starts() -> None:
    accepted = {"type": "run_accepted", "run_id": "run12345678", "thread_id": "thread5678"}
    text = render(
        {**accepted, "state": "queued", "ahead": 12},
        {**accepted, "state": "queued", "ahead": 0},
        {**accepted, "state": "queued"},
        {**accepted, "state": "starting", "ahead": 0},
        accepted,  # an older gateway: no state, nothing claimed
    )
    lines = text.splitlines()
    assert lines[0] == (
        "→ run run12345 accepted, thread thread56 · queued: waiting for a free agent, 12 ahead"
    )
    assert lines[1].endswith("· queued: waiting for a free agent, next in line")
    assert lines[2].endswith("· queued: waiting for a free agent")
    assert lines[3].endswith("· starting")
    assert lines[4] == "→ run run12345 accepted, thread thread56"


def test_a_refused_thread_reads_as_plain_words_with_what_to_do() -> None:
    text = render(
        ev("agent_started", 1, agent_id="a", message="This run ended before work on it began",
           timestamp=5.0),
        ev("agent_failed", 2, agent_id="a", code="thread_not_found", message="no such thread",
           timestamp=5.0),
    )  # fmt: skip
    assert "✗ this thread was not found: no such thread  (thread_not_found)" in text
    assert "/new starts a new thread" in text


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("thread_busy", "✗ this thread is busy: busy"),
        ("intake_failed", "✗ your message could not be taken in: lost"),
        ("brand_new_code", "✗ failed: lost"),
    ],
)
def test_every_failure_code_reads_plainly_even_one_it_does_not_know(code: str, words: str) -> None:
    message = "busy" if code == "thread_busy" else "lost"
    text = render(ev("agent_failed", 1, agent_id="a", code=code, message=message))
    assert text.startswith(words) and f"({code})" in text


def test_a_message_that_could_not_be_stored_says_not_sent() -> None:
    text = render(
        {
            "type": "error",
            "data": {"code": "intake_unavailable", "message": "your message could not be stored"},
        }
    )
    assert text.strip() == "✗ not sent: your message could not be stored  (intake_unavailable)"


def test_frames_it_does_not_know_print_nothing() -> None:
    assert render({"type": "heartbeat", "last_seq": 3}, {"type": "brand_new"}) == ""


def test_formatting_helpers() -> None:
    assert format_duration(0.3) == "<1 ms"
    assert format_duration(999.6) == "1000 ms"
    assert format_duration(1530) == "1.5 s"
    assert format_params({"z": 3.0, "window": "x" * 50}) == f"z=3, window={'x' * 39}…"
    assert summarize({"unit": "ms", "service": "api", "p99": 3.14159}, {"service": "api"}) == (
        "p99: 3.14"
    )
    assert summarize([1, 2]) == "2 items"
