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


def ev(type_: str, seq: int, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "run_id": "run12345678", "thread_id": "t", "data": data}


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


def streamed_run() -> list[dict[str, Any]]:
    call = {"tool_call_id": "c1", "tool_name": "slow_task"}
    return [
        ev("agent_started", 1, agent_id="a", message="Starting", timestamp=10.0),
        ev("message_started", 2, message_id="m1", kind="thinking", agent_id="a"),
        ev("message_delta", 3, message_id="m1", delta="Looking at "),
        ev("message_delta", 4, message_id="m1", delta="[bold]the api[/]"),
        ev(
            "agent_thinking",
            5,
            agent_id="a",
            thought="Looking at [bold]the api[/]",
            message_id="m1",
        ),
        ev("tool_executing", 6, parameters={"seconds": 4}, **call),
        *[
            ev("tool_progress", 6 + n, progress=n / 4, message=f"step {n} of 4", **call)
            for n in range(1, 4)
        ],
        ev("tool_completed", 10, result={"steps": 4}, duration_ms=4000, **call),
        ev("message_started", 11, message_id="m2", kind="answer", agent_id="a"),
        ev("message_delta", 12, message_id="m2", delta="The api "),
        ev("message_delta", 13, message_id="m2", delta="is slow."),
        ev(
            "agent_completed",
            14,
            agent_id="a",
            result="The api is slow.",
            message_id="m2",
            timestamp=12.5,
        ),
    ]


def test_streamed_text_types_out_once_and_its_completing_event_does_not_repeat_it() -> None:
    text = render(*streamed_run())
    assert text.count("Looking at [bold]the api[/]") == 1
    assert "  … Looking at [bold]the api[/]\n" in text
    assert "answer\nThe api is slow.\n✓ answered · 2.5 s" in text
    assert text.count("The api is slow.") == 1


def test_tool_progress_off_a_terminal_is_a_line_per_tenth_then_the_result() -> None:
    text = render(*streamed_run())
    assert "⋯ slow_task  25%  step 1 of 4" in text and "⋯ slow_task  75%  step 3 of 4" in text
    assert "✓ slow_task  4.0 s  → steps: 4" in text


def test_tool_progress_on_a_terminal_rewrites_one_line_that_the_result_replaces() -> None:
    console = Console(record=True, width=120, force_terminal=True, color_system=None)
    timeline = Timeline(console)
    for frame in streamed_run()[5:10]:
        timeline.frame(frame)
    written = console.export_text(styles=True)
    assert written.count("\r\x1b[2K") == 3, "two progress rewrites, then the result's"
    assert written.endswith("steps: 4\n") and written.count("\n") == 2, "⚙ and ✓ lines only"


def test_a_failure_ends_a_line_of_text_cut_short() -> None:
    text = render(
        ev("message_started", 1, message_id="m2", kind="answer", agent_id="a"),
        ev("message_delta", 2, message_id="m2", delta="The api"),
        ev("agent_cancelled", 3, agent_id="a", reason="cancelled by the user"),
    )
    assert "answer\nThe api\n■ cancelled cancelled by the user" in text


def test_a_snapshot_shows_the_run_so_far() -> None:
    events = [
        ev("agent_thinking", 4, agent_id="a", thought="Looked.", message_id="m1"),
        ev("message_started", 6, message_id="m2", kind="answer", agent_id="a"),
        ev("message_delta", 9, message_id="m2", delta="So far"),
    ]
    snapshot = {"type": "run_snapshot", "run_id": "run12345678", "upto_seq": 9, "events": events}
    text = render(snapshot, ev("message_delta", 10, message_id="m2", delta=", more"))
    assert text == "  … Looked.\nanswer\nSo far, more", "the answer's line is still open"


def test_a_resume_that_skipped_the_rest_of_a_message_types_the_missing_end() -> None:
    """Compact replay: a message completed while away comes as its completing event alone."""
    text = render(
        ev("message_started", 1, message_id="m1", kind="thinking", agent_id="a"),
        ev("message_delta", 2, message_id="m1", delta="Looking at "),
        ev("agent_thinking", 9, agent_id="a", thought="Looking at the api.", message_id="m1"),
        ev("message_started", 10, message_id="m2", kind="answer", agent_id="a"),
        ev("message_delta", 11, message_id="m2", delta="The api "),
        ev("agent_completed", 20, agent_id="a", result="The api is slow.", message_id="m2"),
    )
    assert text == "  … Looking at the api.\nanswer\nThe api is slow.\n✓ answered\n"


def test_an_approval_reads_as_a_question_then_its_decision() -> None:
    text = render(
        ev("approval_requested", 1, approval_id="a1", tool_call_id="c1", tool_name="slow_task",
           parameters={"seconds": 60}, reason="it takes a minute", expires_at=99.0),
        ev("approval_resolved", 2, approval_id="a1", decision="denied", reason="not now",
           decided_by="user"),
        ev("approval_resolved", 3, approval_id="a2", decision="expired", decided_by="timeout"),
    )  # fmt: skip
    assert "  ? slow_task(seconds=60) needs your approval: it takes a minute" in text
    assert "  denied: not now" in text and "  expired (nobody decided in time)" in text
