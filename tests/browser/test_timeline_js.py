"""timeline.js on its own: how a run's events become DOM, including the awkward cases a resume
or a failure produces. No server: the module is served from the source tree."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

SETUP = """
window.ev = (seq, type, data = {}) => ({seq, type, run_id: "r1", thread_id: "t1", data});
window.render = async (events, options = {}) => {
  const {RunView} = await import("/timeline.js");
  const view = new RunView({runId: "r1", threadId: "t1", content: "Why?", ...options});
  document.body.replaceChildren(view.el);
  return events.map((e) => view.apply(e));
};
window.text = (selector) => [...document.querySelectorAll(selector)].map((n) => n.textContent);
true;
"""


@pytest.fixture
def page(static_page: Page) -> Page:
    static_page.evaluate(SETUP)
    return static_page


def run(page: Page, body: str) -> Any:
    return page.evaluate(f"async () => {{ {body} }}")


def test_a_failed_tool_and_a_failed_run_are_shown_plainly(page: Page) -> None:
    result = run(
        page,
        """
        await render([
          ev(1, "agent_started", {agent_id: "a", message: "Starting", timestamp: 10}),
          ev(2, "tool_executing", {tool_call_id: "c1", tool_name: "slow_tool", parameters: {}}),
          ev(3, "tool_completed", {tool_call_id: "c1", tool_name: "slow_tool", result: null,
             duration_ms: 30000, error: {code: "tool_timeout", message: "ran past 30 s"}}),
          ev(4, "agent_failed", {agent_id: "a", code: "tool_timeout", message: "a tool timed out",
             timestamp: 40}),
        ]);
        return [document.querySelector(".run").dataset.status, text(".badge")[0],
                text(".tool-summary")[0], text(".tool-duration")[0], text(".outcome-box")[0],
                document.querySelector(".stop").hidden];
        """,
    )
    assert result == [
        "failed",
        "Failed",
        "tool_timeout: ran past 30 s",
        "30.0 s",
        "A tool took too longa tool timed outtool_timeout",
        True,
    ]


def test_a_refused_thread_and_an_unknown_code_fail_in_plain_words(page: Page) -> None:
    result = run(
        page,
        """
        const failed = (code, message) => ev(2, "agent_failed", {agent_id: "a", code, message,
                                                                  timestamp: 1});
        const started = ev(1, "agent_started", {agent_id: "a", timestamp: 1,
                                                message: "This run ended before work on it began"});
        const seen = [];
        for (const [code, message] of [["thread_not_found", "no such thread"],
                                       ["thread_busy", "this thread already has a run going"],
                                       ["intake_failed", "could not take it in"],
                                       ["brand_new_code", "something new broke"]]) {
          await render([started, failed(code, message)]);
          seen.push([text(".badge")[0], text(".outcome-title")[0], text(".outcome-text")[0],
                     text(".outcome-hint")[0] || "", text(".outcome-code")[0]]);
        }
        return seen;
        """,
    )
    assert result == [
        ["Failed", "This thread was not found", "no such thread",
         "It does not exist or is not yours. Start a new thread and send it there.",
         "thread_not_found"],
        ["Failed", "This thread is busy", "this thread already has a run going",
         "Send it again once the run in progress has ended.", "thread_busy"],
        ["Failed", "Your message could not be taken in", "could not take it in",
         "Nothing ran. Send it again.", "intake_failed"],
        ["Failed", "Failed", "something new broke", "", "brand_new_code"],
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("accepted", "badge", "note"),
    [
        ({"state": "queued", "ahead": 12}, "Queued", "Waiting for a free agent — 12 ahead"),
        ({"state": "queued", "ahead": 0}, "Queued", "Waiting for a free agent — next in line"),
        ({"state": "queued"}, "Queued", "Waiting for a free agent"),
        ({"state": "starting", "ahead": 0}, "Starting", "Starting — an agent is picking it up"),
        ({"state": "starting", "afterPrevious": True}, "Queued",
         "Waiting for the previous run in this thread to end"),
    ],
)  # fmt: skip
def test_an_accepted_run_says_what_it_waits_for_until_it_starts(
    page: Page, accepted: dict[str, Any], badge: str, note: str
) -> None:
    result = run(
        page,
        f"""
        const {{RunView}} = await import("/timeline.js");
        const view = new RunView({{content: "Why?", status: "sending"}});
        view.bind("r1", "t1");
        document.body.replaceChildren(view.el);
        view.waiting({json.dumps(accepted)});
        const note = document.querySelector(".wait-note");
        const waiting = [view.status, text(".badge")[0], note.hidden ? "" : note.textContent,
                         document.querySelector(".stop").hidden];
        view.apply(ev(1, "agent_started", {{agent_id: "a", message: "On it", timestamp: 1}}));
        return [waiting, [text(".badge")[0], note.hidden]];
        """,
    )
    status = "starting" if badge == "Starting" else "queued"
    assert result == [[status, badge, note, False], ["Working", True]]


def test_a_stop_pressed_while_queued_is_not_undone_by_the_start(page: Page) -> None:
    result = run(
        page,
        """
        const {RunView} = await import("/timeline.js");
        const view = new RunView({content: "Why?", status: "sending"});
        view.bind("r1", "t1");
        document.body.replaceChildren(view.el);
        view.waiting({state: "queued", ahead: 2});
        view.setStatus("stopping");
        view.apply(ev(1, "agent_started", {agent_id: "a", message: "On it", timestamp: 1}));
        const during = text(".badge")[0];
        view.apply(ev(2, "agent_cancelled", {agent_id: "a", reason: "stopped", timestamp: 1}));
        return [during, text(".badge")[0]];
        """,
    )
    assert result == ["Stopping…", "Cancelled"]


def test_a_repeated_seq_renders_once(page: Page) -> None:
    result = run(
        page,
        """
        const applied = await render([
          ev(1, "agent_started", {agent_id: "a", message: "Starting", timestamp: 1}),
          ev(2, "agent_thinking", {thought: "once"}),
          ev(2, "agent_thinking", {thought: "once"}),
        ]);
        return [applied, text(".thinking")];
        """,
    )
    assert result == [[True, True, False], ["once"]]


def test_a_result_that_comes_without_its_call_still_makes_one_card(page: Page) -> None:
    result = run(
        page,
        """
        await render([
          ev(7, "tool_completed", {tool_call_id: "c9", tool_name: "t", result: {n: 1},
             duration_ms: 5}),
          ev(8, "agent_completed", {agent_id: "a", result: "fine", timestamp: 2}),
        ]);
        return [document.querySelectorAll(".tool").length, text(".tool-summary")[0],
                document.querySelector(".tool").className];
        """,
    )
    assert result == [1, "n: 1", "step tool done"]


def test_the_start_leads_even_when_it_arrives_late(page: Page) -> None:
    result = run(
        page,
        """
        await render([
          ev(5, "agent_thinking", {thought: "second"}),
          ev(4, "agent_started", {agent_id: "a", message: "first", timestamp: 1}),
        ]);
        return [...document.querySelectorAll(".step")].map((n) => n.dataset.kind);
        """,
    )
    assert result == ["agent_started", "agent_thinking"]


def test_a_run_known_only_from_history_shows_its_outcome(page: Page) -> None:
    result = run(
        page,
        """
        const {RunView} = await import("/timeline.js");
        const view = new RunView({runId: "r2", threadId: "t1"});
        view.showHistory({run_id: "r2", status: "cancelled", content: "Stop me",
                          created_at: 10, finished_at: 12.5});
        document.body.replaceChildren(view.el);
        return [text(".user-msg")[0], text(".badge")[0], text(".elapsed")[0],
                text(".outcome-title")[0]];
        """,
    )
    assert result == ["Stop me", "Cancelled", "2.5 s", "Cancelled"]


def test_server_text_is_never_parsed_as_markup(page: Page) -> None:
    result = run(
        page,
        """
        await render([ev(1, "agent_thinking", {thought: "<img src=x onerror=alert(1)>"})]);
        return [document.querySelectorAll("img").length, text(".thinking")[0]];
        """,
    )
    assert result == [0, "<img src=x onerror=alert(1)>"]


def test_thread_times_read_as_how_long_ago(page: Page) -> None:
    result = run(
        page,
        """
        const {formatAgo} = await import("/timeline.js");
        const now = Date.UTC(2026, 11, 7, 12, 0, 0);
        const ago = (s) => formatAgo(now / 1000 - s, now);
        return [ago(5), ago(61), ago(5 * 60 + 30), ago(3 * 3600), ago(30 * 3600), ago(4 * 86400)];
        """,
    )
    assert result == ["just now", "1 min ago", "5 min ago", "3 h ago", "yesterday", "4 days ago"]
