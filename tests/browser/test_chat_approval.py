"""Approvals in the chat page against the whole stack: the built-in analyst asks before it
applies a recommendation; every tab shows the card, one decides, all record the decision.

UPDATE_SCREENSHOT=1 (or a missing file) also writes docs/screenshot-approval.png, a pending card.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat import ask, sign_up, wait_connected

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.integration

APPLY = "Apply the top recommendation for the db"
RUN_TIMEOUT_MS = 60_000
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot-approval.png"
PENDING = ".approval.pending"


def answer(page: Page) -> str:
    page.wait_for_selector('.run[data-status="completed"] .answer', timeout=RUN_TIMEOUT_MS)
    return page.locator(".answer .outcome-text").inner_text()


def test_approve_in_one_tab_and_every_tab_records_the_decision(
    context: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page, app_url)
    other = context.new_page()  # same profile: signed in; it follows the same thread
    other.goto(app_url)
    wait_connected(other)
    ask(page, APPLY)

    card = page.locator(PENDING)
    card.wait_for(timeout=RUN_TIMEOUT_MS)
    other.locator(PENDING).wait_for()
    assert "apply_recommendation" in card.inner_text()
    assert "service=db" in card.locator(".tool-params").inner_text()
    assert card.locator(".approval-reason").inner_text().startswith("To ")
    assert page.locator(".run .badge").inner_text() == "Needs your approval"
    left = card.locator(".approval-left")
    first_left = left.inner_text()
    assert first_left.endswith(" left to decide"), first_left
    page.wait_for_function(
        f"document.querySelector('{PENDING} .approval-left').textContent !== {first_left!r}"
    )  # it counts down
    assert page.evaluate("document.activeElement.classList.contains('approval')"), "focus"
    page.screenshot(path=str(tmp_path / "approval-1280x800.png"))
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        page.screenshot(path=str(SCREENSHOT))

    card.get_by_role("button", name="Approve").click()

    decided = other.locator('.approval[data-decision="approved"]')
    decided.wait_for()
    assert decided.locator(".approval-decision").inner_text().startswith("Approved by you · ")
    assert not other.locator(".approval-actions").is_visible(), "the buttons went"
    assert answer(page).startswith("Done: I applied")
    assert answer(other).startswith("Done: I applied")
    assert page.locator(".tool", has_text="apply_recommendation").count() == 1, "it ran once"
    assert not page.locator(".approval-actions").is_visible()


def test_deny_by_keyboard_with_a_reason(context: BrowserContext, app_url: str) -> None:
    page = context.new_page()
    sign_up(page, app_url)
    ask(page, APPLY)
    page.locator(PENDING).wait_for(timeout=RUN_TIMEOUT_MS)
    page.keyboard.press("Tab")  # from the card: Approve
    page.keyboard.press("Tab")  # Deny
    page.keyboard.press("Enter")
    page.keyboard.type("not during business hours")
    page.keyboard.press("Enter")

    decided = page.locator('.approval[data-decision="denied"]')
    decided.wait_for()
    assert "Denied by you" in decided.inner_text()
    assert "not during business hours" in decided.inner_text()
    assert answer(page).startswith("I did not apply")
    assert "you denied it" in answer(page)


def test_a_tab_opened_while_an_approval_waits_shows_it_pending(
    context: BrowserContext, app_url: str
) -> None:
    page = context.new_page()
    sign_up(page, app_url)
    ask(page, "Apply the top recommendation for the api")  # not the db: applied already
    page.locator(PENDING).wait_for(timeout=RUN_TIMEOUT_MS)
    late = context.new_page()  # joins with a snapshot of the run under way
    late.goto(app_url)
    wait_connected(late)
    late.locator(PENDING).wait_for()
    late.locator(PENDING).get_by_role("button", name="Approve").click()
    page.locator('.approval[data-decision="approved"]').wait_for()
    assert answer(page).startswith("Done: I applied")
