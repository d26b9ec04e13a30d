"""The chat page and the durable intake, against the whole stack with one agent slot: a run that
waits for an agent says so, a refused thread fails in plain words, a resent message is one run.

SCREENSHOT_DIR=<dir> keeps the screenshots taken on the way (default: the test's tmp dir).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat import (
    QUESTION,
    RUN_TIMEOUT_MS,
    ask,
    assert_nothing_doubled,
    sign_up,
    timeline,
    wait_connected,
    wait_run,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.integration

STACK_ENV = {"AGENT_MAX_CONCURRENT_RUNS": "1"}  # a second run waits for the first
SLOW = "slow_task seconds=3 steps=3"
FOLLOW_UP = "Any error spikes in the worker over the last 24 hours?"
PHONE = {"width": 390, "height": 844}

# Each run the page knows: its message, its agent_started's seq, its terminal event's seq.
RUNS_JS = """() => [...window.agentwireApp.runs.values()].map((view) => [
  view.messageText.textContent,
  Number(view.steps.querySelector('[data-kind="agent_started"]')?.dataset.seq),
  Number(view.el.querySelector('.answer-slot [data-seq], .outcome [data-seq]')?.dataset.seq),
])"""

# The second `message` frame's socket is closed right after it is written, before any answer
# (the gateway may or may not have stored it); every run_accepted is delivered twice. Not the
# first: a socket that has seen no event yet has no position to resume from (see the test).
DROP_SECOND_MESSAGE_JS = """(() => {
  const Native = window.WebSocket;
  window.sentMessages = [];
  window.WebSocket = class extends Native {
    send(data) {
      super.send(data);
      const frame = JSON.parse(data);
      if (frame.type !== "message") return;
      window.sentMessages.push(frame);
      if (window.sentMessages.length === 2) this.close(4000, "test: dropped before the answer");
    }
    get onmessage() { return super.onmessage; }
    set onmessage(fn) {
      super.onmessage = fn && ((msg) => {
        fn(msg);
        if (JSON.parse(msg.data).type === "run_accepted") fn(msg);
      });
    }
  };
})();"""


def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def screenshot(page: Page, path: Path) -> None:
    page.locator("#message").blur()
    page.screenshot(path=str(path))


def test_a_run_waiting_for_an_agent_says_so_until_it_starts(
    context: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page, app_url)
    ask(page, SLOW)
    page.wait_for_selector('.run [data-kind="tool_executing"]')  # it holds the only slot
    page.get_by_role("button", name="New thread").click()
    ask(page, QUESTION)

    waiting = page.locator('.run[data-status="queued"]')
    waiting.wait_for()
    assert waiting.locator(".badge").inner_text() == "Queued"
    note = waiting.locator(".wait-note").inner_text()
    assert note.startswith("Waiting for a free agent"), note
    assert waiting.locator("[data-kind]").count() == 0, "no step, no spinner: nothing works on it"
    assert "working" not in waiting.inner_text()
    assert waiting.locator(".stop").is_visible(), "a waiting run can be stopped"
    screenshot(page, shots(tmp_path) / "queued-1280x800.png")
    page.set_viewport_size(PHONE)
    screenshot(page, shots(tmp_path) / "queued-390x844.png")

    wait_run(page)  # the second thread's run, once the first has left the slot
    assert page.locator(".wait-note").is_hidden()
    assert_nothing_doubled(page)
    (first, first_start, first_end), (second, second_start, _) = page.evaluate(RUNS_JS)
    assert (first, second) == (SLOW, QUESTION)
    assert first_start < first_end < second_start, "it started when the slot was free"


def test_a_message_to_a_thread_that_is_not_yours_fails_in_plain_words(
    context: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page, app_url)
    page.evaluate("location.hash = 'thread=' + 'f'.repeat(32)")  # say, a link someone shared
    page.reload()
    wait_connected(page)
    ask(page)
    wait_run(page, "failed")

    run = page.locator(".run")
    assert run.locator(".badge").inner_text() == "Failed"
    assert run.locator(".outcome-title").inner_text() == "This thread was not found"
    assert run.locator(".outcome-text").inner_text() == "no such thread"
    assert "Start a new thread" in run.locator(".outcome-hint").inner_text()
    assert run.locator(".outcome-code").inner_text() == "thread_not_found"
    kinds = run.locator("[data-kind]").evaluate_all("nodes => nodes.map((n) => n.dataset.kind)")
    assert kinds == ["agent_started", "agent_failed"]
    screenshot(page, shots(tmp_path) / "thread-not-found-1280x800.png")
    page.set_viewport_size(PHONE)
    screenshot(page, shots(tmp_path) / "thread-not-found-390x844.png")


def test_a_message_resent_after_a_drop_is_one_run_on_the_page(
    context: BrowserContext, app_url: str
) -> None:
    """The gateway answers the resent message with the same run; the page shows it once.

    The page asks once first, so that its socket has a position (the first run's seqs) to
    resume from: a socket that has seen neither an event nor a heartbeat reconnects live-only,
    and events published while it was away would be missed.
    """
    page = context.new_page()
    page.add_init_script(DROP_SECOND_MESSAGE_JS)
    sign_up(page, app_url)
    ask(page)
    wait_run(page)
    ask(page, FOLLOW_UP)
    page.wait_for_function(
        "document.querySelectorAll('.run[data-status=\"completed\"]').length === 2",
        timeout=RUN_TIMEOUT_MS,
    )

    sent = page.evaluate("window.sentMessages")
    assert len(sent) == 3 and sent[1]["client_msg_id"] == sent[2]["client_msg_id"], sent
    assert page.locator(".run .user-msg").all_inner_texts() == [QUESTION, FOLLOW_UP]
    assert page.evaluate("window.agentwireApp.runs.size") == 2
    items = timeline(page)
    seqs = [seq for _, seq, _ in items]
    assert len(seqs) == len(set(seqs)), f"a seq rendered twice: {items}"
    kinds = [kind for kind, _, _ in items]
    assert kinds.count("agent_started") == kinds.count("agent_completed") == 2, kinds
