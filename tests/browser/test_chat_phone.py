"""The chat on a phone (390 by 844, touch) and after a reload, against the whole stack.

On a phone: the page is never wider than the screen, threads live in a drawer, "+ New", Send
and Stop are there to tap. A reload reopens the last thread with every run whole.
UPDATE_SCREENSHOT=1 (or a missing file) also writes docs/screenshot-phone.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat import (
    PASSWORD,
    QUESTION,
    TIMELINE_JS,
    ask,
    sign_up,
    timeline,
    wait_connected,
    wait_run,
)
from tests.browser.conftest import watch_script_errors

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.integration

PHONE = {"width": 390, "height": 844}
SLOW = "slow_task seconds=8 steps=8"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot-phone.png"
# Controls that must be on the screen, whole, to be tapped.
ON_SCREEN_JS = """(ids) => ids.map((id) => {
  const r = document.getElementById(id).getBoundingClientRect();
  return [id, r.width > 0 && r.left >= 0 && r.right <= innerWidth && r.bottom <= innerHeight];
})"""


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(20_000)
    errors = watch_script_errors(ctx)
    try:
        yield ctx
    finally:
        ctx.close()
    assert not errors, f"script errors on the page: {errors}"


def fits(page: Page, shot: Path) -> None:
    """Nothing sticks out sideways (and a picture of it, to look at)."""
    page.screenshot(path=str(shot))
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 390 px screen ({shot})"


def test_a_phone_can_sign_up_send_stop_and_switch_threads(
    phone: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = phone.new_page()
    page.goto(app_url)
    page.wait_for_selector("#auth-view:not([hidden])")
    fits(page, tmp_path / "1-sign-up.png")
    page.get_by_label("Email").fill("phone-user@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").tap()
    wait_connected(page)
    fits(page, tmp_path / "2-empty.png")
    on_screen = page.evaluate(ON_SCREEN_JS, ["menu-button", "new-thread-top", "logout-button",
                                             "send-button", "message"])  # fmt: skip
    assert all(shown for _, shown in on_screen), on_screen

    page.get_by_label("Message").fill(SLOW)
    page.get_by_role("button", name="Send").tap()
    page.wait_for_selector(".tool .tool-progress:not([hidden])", timeout=30_000)
    assert "of 8" in page.locator(".tool-progress").inner_text()
    fits(page, tmp_path / "3-tool-progress.png")
    page.locator(".run .stop").tap()
    wait_run(page, "cancelled")
    page.wait_for_function("document.activeElement.id === 'message'")
    fits(page, tmp_path / "4-stopped.png")

    page.get_by_role("button", name="New thread").tap()
    assert page.locator("#thread-title").inner_text() == "New thread"
    page.get_by_label("Message").fill(QUESTION)
    page.get_by_role("button", name="Send").tap()
    wait_run(page)
    page.locator("#message").blur()
    fits(page, tmp_path / "5-answer.png")
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        # From the last tool call down: a thought, a tool card and the answer on one screen.
        page.locator(".run .tool").last.evaluate("(n) => n.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(SCREENSHOT))
    assert page.locator(".run .answer").is_visible()
    assert page.locator("#threads").is_hidden(), "the threads wait in their drawer"

    page.get_by_role("button", name="Threads").tap()
    threads = page.locator("#thread-list .thread-button")
    threads.first.wait_for(state="visible")
    page.wait_for_timeout(400)  # the drawer's slide in
    fits(page, tmp_path / "6-drawer.png")
    assert threads.count() == 2
    assert page.locator("#thread-list .thread-when").all_inner_texts() == ["just now"] * 2
    page.locator("#thread-list .thread-button", has_text=SLOW).tap()
    page.wait_for_selector('.run[data-status="cancelled"]')
    page.locator("#threads").wait_for(state="hidden")  # choosing a thread closes the drawer
    assert page.locator("#thread-title").inner_text() == SLOW
    fits(page, tmp_path / "7-other-thread.png")


def test_a_reload_reopens_the_last_thread_with_every_run_whole(
    context: BrowserContext, app_url: str
) -> None:
    page = context.new_page()
    sign_up(page, app_url)
    ask(page)
    wait_run(page)
    ask(page, "And the db?")
    page.wait_for_function("document.querySelectorAll('.run[data-status=completed]').length === 2",
                           timeout=30_000)  # fmt: skip
    before = timeline(page)
    title = page.locator("#thread-title").inner_text()

    page.goto(app_url)  # no #thread= in the address: the page remembers the thread itself
    wait_connected(page)
    page.wait_for_function("document.querySelectorAll('.run .tool.done').length >= 4")
    page.wait_for_function(f"({TIMELINE_JS})().length >= {len(before)}")
    assert page.locator("#thread-title").inner_text() == title
    assert timeline(page) == before, "each run whole: its thoughts, its tools, its answer"
    first = page.locator(".run").first
    assert first.locator('[data-kind="agent_thinking"]').count() >= 2
    assert first.locator(".tool.done").count() >= 1
    assert "p99" in first.locator(".answer").inner_text()
    assert first.locator(".run-head .badge").inner_text() == "Done"
