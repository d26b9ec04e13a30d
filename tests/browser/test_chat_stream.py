"""Streamed text in the chat page against the whole stack: an answer appears as the agent
writes it, a tab opened mid-answer shows the text so far and then the rest. The agent types
slowly here (STREAM_TOKENS_PER_S) so that "mid-answer" lasts long enough to look at.

UPDATE_SCREENSHOT=1 (or a missing file) also writes docs/screenshot.png, taken mid-answer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.chat import ask, sign_up, wait_connected

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.integration

STACK_ENV = {"STREAM_TOKENS_PER_S": "12"}
RUN_TIMEOUT_MS = 90_000
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"

# Everything the answer box showed, as it changed: [text, still writing?, the run's badge].
WATCH_ANSWER = """
window.answerSeen = [];
window.thoughtWriting = false;
new MutationObserver(() => {
  const box = document.querySelector(".run:last-of-type .answer");
  if (document.querySelector(".thinking.writing")) window.thoughtWriting = true;
  if (!box) return;
  const now = [box.querySelector(".outcome-text").textContent,
               box.classList.contains("writing"),
               document.querySelector(".run:last-of-type .badge").textContent];
  const last = answerSeen[answerSeen.length - 1];
  if (!last || last.some((value, i) => value !== now[i])) answerSeen.push(now);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def record_frames(page: Page) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_socket)
    return frames


def wait_answer_done(page: Page) -> None:
    page.wait_for_selector('.run [data-kind="agent_completed"]', timeout=RUN_TIMEOUT_MS)


def rendered(page: Page, text: str) -> str:
    """What markdown.js makes of ``text``, as a person reads it (its text)."""
    return str(
        page.evaluate(
            """async (text) => {
              const {renderMarkdown} = await import("./markdown.js");
              return renderMarkdown(document.createElement("div"), text).textContent;
            }""",
            text,
        )
    )


def test_an_answer_appears_as_it_is_written_and_ends_as_the_whole_answer(
    context: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    frames = record_frames(page)
    page.add_init_script(WATCH_ANSWER)
    sign_up(page, app_url)
    ask(page)
    page.wait_for_function(
        "document.querySelector('.answer.writing .outcome-text')?.textContent.length > 300",
        timeout=RUN_TIMEOUT_MS,
    )
    page.locator("#message").blur()
    page.screenshot(path=str(tmp_path / "mid-answer-1280x800.png"))
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        page.screenshot(path=str(SCREENSHOT))
    wait_answer_done(page)

    completed = next(f for f in frames if f.get("type") == "agent_completed")
    answer_id = completed["data"]["message_id"]
    deltas = [
        f["data"]["delta"]
        for f in frames
        if f.get("type") == "message_delta" and f["data"]["message_id"] == answer_id
    ]
    assert len(deltas) >= 5, "the answer came in pieces"
    assert "".join(deltas) == completed["data"]["result"]

    seen = page.evaluate("window.answerSeen")
    writing = [text for text, still_writing, badge in seen if still_writing and badge == "Working"]
    assert len(writing) >= 5, f"the answer grew while the run worked: {seen}"
    assert 0 < len(writing[0]) < len(writing[-1]) <= len(seen[-1][0])
    final = page.locator(".answer .outcome-text").text_content()
    assert final == rendered(page, completed["data"]["result"])
    assert seen[-1] == [final, False, "Done"]
    assert page.evaluate("window.thoughtWriting"), "a thought was shown while being written"
    assert page.locator(".answer ul li").count() >= 2, "the answer's list is a list"
    timeline = page.locator("#timeline")
    at_end = "(t) => t.scrollHeight - t.scrollTop - t.clientHeight < 4"
    assert timeline.evaluate(at_end), "the view ends on the answer"


def test_the_view_stays_where_the_person_scrolled_to(context: BrowserContext, app_url: str) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 600})
    sign_up(page, app_url)
    ask(page)
    overflowing = "(t) => t.scrollHeight > t.clientHeight + 200"
    page.wait_for_function(f"({overflowing})(document.getElementById('timeline'))",
                           timeout=RUN_TIMEOUT_MS)  # fmt: skip
    assert page.locator(".run .badge").inner_text() == "Working"
    page.locator("#timeline").evaluate("(t) => { t.scrollTop = 0; }")  # up, to read
    page.locator("#timeline").dispatch_event("scroll")
    wait_answer_done(page)
    assert page.locator("#timeline").evaluate("(t) => t.scrollTop") == 0


def test_a_tab_opened_mid_answer_shows_the_text_so_far_then_the_rest(
    context: BrowserContext, app_url: str
) -> None:
    first = context.new_page()
    sign_up(first, app_url)
    ask(first)
    first.wait_for_function(
        "document.querySelector('.answer.writing .outcome-text')?.textContent.length > 30",
        timeout=RUN_TIMEOUT_MS,
    )
    second = context.new_page()  # same profile: signed in, and it remembers the thread
    frames = record_frames(second)
    second.add_init_script(WATCH_ANSWER)
    second.goto(app_url)
    wait_connected(second)
    wait_answer_done(second)
    wait_answer_done(first)

    seen = [state for state in second.evaluate("window.answerSeen") if state[0]]  # text shown
    text_so_far, writing, badge = seen[0]
    final = second.locator(".answer .outcome-text").text_content()
    assert text_so_far and writing and badge == "Working", seen[0]
    assert len(text_so_far) < len(final), "it showed the text so far, then the rest"
    assert final == first.locator(".answer .outcome-text").text_content()
    assert [f["run_id"] for f in frames if f.get("type") == "run_snapshot"], "a snapshot on join"
    question = ".run .user-msg"
    assert second.locator(question).inner_text() == first.locator(question).inner_text()
    # Everything the first tab shows (each thought, each tool) the second shows too.
    steps = (
        "(n) => [...n.querySelectorAll('.steps > li')].map((s) => [s.dataset.kind, s.textContent])"
    )
    assert second.locator(".run").evaluate(steps) == first.locator(".run").evaluate(steps)
