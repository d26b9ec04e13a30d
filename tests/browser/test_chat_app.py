"""The chat page (app.js) against a scripted socket, no server: the replies a real stack gives
only under failure or bad timing, delivered on cue.

The page is served from the source tree, signed in through a session put in localStorage, and
its WebSocket is a fake whose answers each test scripts (``server.onMessage``).
SCREENSHOT_DIR=<dir> keeps the screenshots taken on the way (default: the test's tmp dir).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat import ask
from tests.browser.conftest import STATIC_ORIGIN, _serve_static

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

QUESTION = "Why is the api slow this week?"
NOT_STORED = "your message could not be stored, so it will not run; send it again shortly"

SCRIPTED_SERVER = """
(() => {
  const now = Date.now();
  localStorage.setItem("agentwire.session", JSON.stringify({
    email: "ada@example.com", accessToken: "A", refreshToken: "R", lifetimeMs: 900000,
    expiresAt: now + 900000, refreshExpiresAt: now + 86400000}));
  const server = window.server = {sockets: [], sent: [], onMessage: null};
  server.event = (seq, type, data = {}) => ({seq, type, run_id: "r1", thread_id: "t1",
                                             data: {agent_id: "a", timestamp: 1, ...data}});
  window.WebSocket = class {
    constructor(url, protocols) {
      Object.assign(this, {url, protocols, readyState: 0});
      server.sockets.push(this);
      if (server.refuse) return void setTimeout(() => this.drop(1006), 5);  // a network down
      setTimeout(() => { this.readyState = 1; this.onopen?.({}); }, 5);
    }
    send(text) {
      const frame = JSON.parse(text);
      server.sent.push(frame);
      setTimeout(() => {
        if (frame.type === "list_threads") this.deliver({type: "threads", threads: []});
        if (frame.type === "list_runs") this.deliver({type: "runs", thread_id: frame.thread_id,
                                                      runs: []});
        if (frame.type === "message") server.onMessage?.(frame, this);
        server.onFrame?.(frame, this);
      }, 5);
    }
    close(code = 1000, reason = "") { this.drop(code, reason); }
    drop(code = 1006, reason = "") {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.onclose?.({code, reason}), 0);
    }
    deliver(frame) { if (this.readyState === 1) this.onmessage?.({data: JSON.stringify(frame)}); }
  };
})();
"""


@pytest.fixture
def page(context: BrowserContext) -> Page:
    chat = context.new_page()
    chat.route(f"{STATIC_ORIGIN}/**", _serve_static)
    chat.add_init_script(SCRIPTED_SERVER)
    chat.goto(f"{STATIC_ORIGIN}/index.html?auth=http://auth.test")
    chat.wait_for_selector('#connection[data-state="open"]')
    return chat


def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def messages(page: Page) -> list[dict[str, str]]:
    return page.evaluate("server.sent.filter((f) => f.type === 'message')")


def test_a_message_that_was_not_stored_is_shown_and_its_text_kept_to_send_again(
    page: Page, tmp_path: Path
) -> None:
    page.evaluate(
        """(text) => { server.onMessage = (frame, ws) => ws.deliver(
             {type: "error", data: {code: "intake_unavailable", message: text}}); }""",
        NOT_STORED,
    )
    ask(page, QUESTION)
    page.wait_for_selector('.run[data-status="unsent"]')

    card = page.locator(".run")
    assert card.locator(".badge").inner_text() == "Not sent"
    assert card.locator(".outcome-text").inner_text() == NOT_STORED
    assert card.locator(".outcome-hint").inner_text() == (
        "Your message is back in the box: send it again."
    )
    assert page.get_by_label("Message").input_value() == QUESTION
    assert page.locator("#notice").is_hidden(), "said once, on the card"
    page.locator("#message").blur()
    page.screenshot(path=str(shots(tmp_path) / "not-sent-1280x900.png"))

    page.evaluate(
        """() => { server.onMessage = (frame, ws) => ws.deliver({type: "run_accepted",
             run_id: "r1", thread_id: "t1", client_msg_id: frame.client_msg_id, state: "queued",
             ahead: 3}); }"""
    )
    page.get_by_label("Message").press("Enter")
    page.wait_for_selector('.run[data-status="queued"]')
    assert page.locator(".run").count() == 1, "the Not sent card made way for the new one"
    assert page.locator(".run .wait-note").inner_text() == "Waiting for a free agent — 3 ahead"
    assert page.get_by_label("Message").input_value() == ""
    first, second = messages(page)
    assert first["content"] == second["content"] == QUESTION
    assert first["client_msg_id"] != second["client_msg_id"], "nothing was stored: a new message"


def test_text_typed_meanwhile_is_not_overwritten_by_a_failed_send(page: Page) -> None:
    page.evaluate(
        """() => { server.onMessage = (frame, ws) => setTimeout(() => ws.deliver({type: "error",
             data: {code: "intake_unavailable", message: "not stored"}}), 300); }"""
    )
    ask(page, QUESTION)
    page.get_by_label("Message").fill("something else")
    page.wait_for_selector('.run[data-status="unsent"]')
    assert page.get_by_label("Message").input_value() == "something else"
    assert page.locator(".run .outcome-hint").count() == 0


@pytest.mark.parametrize("replayed_first", [False, True], ids=["answer-first", "events-first"])
def test_a_run_accepted_twice_after_a_resend_is_one_run(page: Page, replayed_first: bool) -> None:
    """The socket drops before the answer; the resend is answered with the same run (twice,
    here), and the resume may deliver the run's first events before that answer."""
    page.evaluate(
        """(replayedFirst) => {
          server.onMessage = (frame, ws) => {
            if (server.sockets.length === 1) return ws.drop(1006);  // lost with its answer
            const accepted = {type: "run_accepted", run_id: "r1", thread_id: "t1",
                              client_msg_id: frame.client_msg_id, state: "starting", ahead: 0};
            const started = server.event(1, "agent_started", {message: "On it"});
            if (replayedFirst) ws.deliver(started);
            ws.deliver(accepted);
            ws.deliver(accepted);
            if (!replayedFirst) ws.deliver(started);
            ws.deliver(server.event(2, "agent_completed", {result: "Fine.", timestamp: 2}));
          };
        }""",
        replayed_first,
    )
    ask(page, QUESTION)
    page.wait_for_selector('.run[data-status="completed"]')

    first, resent = messages(page)
    assert first["client_msg_id"] == resent["client_msg_id"]
    assert page.locator(".run").count() == 1
    assert page.locator(".run .user-msg").inner_text() == QUESTION
    assert page.locator('.run [data-kind="agent_started"]').count() == 1
    assert page.locator(".run .outcome-text").inner_text() == "Fine."
    assert page.evaluate("window.agentwireApp.current") == "t1"


def test_reconnecting_counts_down_to_the_next_try(page: Page) -> None:
    page.evaluate("server.refuse = true; server.sockets[0].drop(1006)")
    status = page.locator("#connection")
    page.wait_for_function(
        "/Reconnecting in [3-9] s/.test(document.getElementById('connection').textContent)",
        timeout=20_000,
    )
    first = int(status.inner_text().split()[2])
    page.wait_for_timeout(1_050)
    assert status.inner_text() == f"Reconnecting in {first - 1} s…"
    page.evaluate("server.refuse = false")
    page.wait_for_selector('#connection[data-state="open"]', timeout=20_000)
    assert status.inner_text() == "Live · WebSocket"


LONG = "x" * 300
ENDLESS_RUN = """(long) => { server.onMessage = (frame, ws) => {
  ws.deliver({type: "run_accepted", run_id: "r1", thread_id: "t1",
              client_msg_id: frame.client_msg_id, state: "starting"});
  const e = server.event;
  ws.deliver(e(1, "agent_started", {message: "On " + long}));
  ws.deliver(e(2, "message_started", {message_id: "m1", kind: "thinking"}));
  ws.deliver(e(3, "message_delta", {message_id: "m1", delta: "Thinking " + long}));
  ws.deliver(e(4, "tool_executing", {tool_call_id: "c1", tool_name: "tool_" + long,
                                     parameters: {query: long, other: long}}));
  ws.deliver(e(5, "tool_progress", {tool_call_id: "c1", tool_name: "t", progress: 0.5,
                                    message: "step " + long}));
  ws.deliver(e(6, "message_started", {message_id: "m2", kind: "answer"}));
  ws.deliver(e(7, "message_delta", {message_id: "m2", delta: "See https://example.com/" + long
    + "\\n\\n```\\n" + long + "\\n```\\n- `" + long + "`"}));
}; }"""


def test_long_unbroken_text_never_widens_the_page_on_a_phone(page: Page, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.evaluate(ENDLESS_RUN, LONG)
    page.get_by_label("Message").fill("y" * 300)
    page.get_by_role("button", name="Send").click()
    page.wait_for_selector(".answer .outcome-text a")
    page.wait_for_selector(".tool-progress:not([hidden])")
    page.screenshot(path=str(shots(tmp_path) / "long-text-390x844.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # What sticks out of the screen (a code block's lines scroll inside it, so they do not).
    sticking_out = page.evaluate(
        """[...document.querySelectorAll('.run *')]
          .filter((n) => !n.parentElement.closest('pre'))
          .filter((n) => n.getBoundingClientRect().right > innerWidth)
          .map((n) => n.tagName + '.' + n.className)"""
    )
    assert sticking_out == []


ASK_APPROVAL = """() => {
  const ws = server.sockets[server.sockets.length - 1];
  const e = server.event;
  ws.deliver(e(1, "agent_started", {message: "On it"}));
  ws.deliver(e(2, "approval_requested", {approval_id: "ap1", tool_call_id: "c1",
    tool_name: "apply_recommendation", parameters: {service: "db", change: "add_read_replica"},
    reason: "To add a read replica to the db service", expires_at: Date.now() / 1000 + 600}));
}"""
RESOLVE = """([decision, by, reason]) => server.sockets[server.sockets.length - 1].deliver(
  server.event(3, "approval_resolved", {approval_id: "ap1", decision, decided_by: by, reason,
                                        timestamp: 1700000000}))"""


@pytest.mark.parametrize(
    ("decision", "by", "reason", "said"),
    [
        ("approved", "user", None, "Approved by you · "),
        ("denied", "user", "not now", "Denied by you · "),
        ("expired", "timeout", None, "Expired (nobody decided in time) · "),
        ("cancelled", "stop", None, "Cancelled (the run was stopped) · "),
    ],
)
def test_an_approval_decided_anywhere_records_who_decided_and_when(
    page: Page, decision: str, by: str, reason: str | None, said: str
) -> None:
    page.evaluate(ASK_APPROVAL)
    card = page.locator(".approval.pending")
    card.wait_for()
    assert page.locator(".run .badge").inner_text() == "Needs your approval"
    assert card.locator(".tool-name").inner_text() == "apply_recommendation"
    assert card.locator(".tool-params").inner_text() == "service=db · change=add_read_replica"
    assert card.locator(".approval-reason").inner_text() == (
        "To add a read replica to the db service"
    )
    assert card.locator(".approval-left").inner_text() in ("10:00 left to decide",
                                                          "9:59 left to decide")  # fmt: skip
    assert page.evaluate("document.activeElement.dataset.approvalId") == "ap1", "focus on it"

    page.evaluate(RESOLVE, [decision, by, reason])
    done = page.locator(f'.approval[data-decision="{decision}"]')
    done.wait_for()
    text = done.locator(".approval-decision").inner_text()
    assert text.startswith(said), text
    assert text.endswith(": not now") == bool(reason), text
    assert not done.locator(".approval-actions").is_visible(), "the buttons went"
    assert done.locator(".approval-left").inner_text() == ""
    assert page.locator(".run .badge").inner_text() == "Working"


def test_the_approval_card_works_from_the_keyboard(page: Page) -> None:
    page.evaluate(
        """() => { server.onFrame = (frame, ws) => {
             if (frame.type === "deny") ws.deliver({type: "error",
               data: {code: "approval_not_found", message: "no such approval"}}); }; }"""
    )
    page.evaluate(ASK_APPROVAL)
    page.locator(".approval.pending").wait_for()
    page.keyboard.press("Escape")  # on the card: back to the message box
    assert page.evaluate("document.activeElement.id") == "message"
    page.locator(".approval").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Deny"
    page.keyboard.press("Enter")  # asks why, inline
    assert page.evaluate("document.activeElement.classList.contains('deny-reason')")
    page.keyboard.type("wrong service")
    page.keyboard.press("Escape")  # changed my mind: back to Deny
    assert page.evaluate("document.activeElement.textContent") == "Deny"
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # deny, with the reason still there
    problem = page.locator(".approval-problem")
    problem.wait_for()
    assert "no longer waiting" in problem.inner_text()
    assert page.locator("#notice").is_hidden(), "said once, on the card"
    denies = page.evaluate("server.sent.filter((f) => f.type === 'deny')")
    assert denies == [{"type": "deny", "approval_id": "ap1", "reason": "wrong service"}]
    assert page.locator(".approval.pending .approve").is_enabled()


def test_an_approval_does_not_take_the_focus_from_someone_typing(page: Page) -> None:
    page.get_by_label("Message").fill("half a thought")
    page.evaluate(ASK_APPROVAL)
    page.locator(".approval.pending").wait_for()
    assert page.evaluate("document.activeElement.id") == "message"
    assert page.get_by_label("Message").input_value() == "half a thought"
