"""What a person does on the chat page, as steps the browser tests share."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = [
    "PASSWORD",
    "QUESTION",
    "RUN_TIMEOUT_MS",
    "TIMELINE_JS",
    "ask",
    "assert_nothing_doubled",
    "sign_up",
    "timeline",
    "wait_connected",
    "wait_run",
]

PASSWORD = "correct horse battery"
QUESTION = "Why is the api slow this week?"
RUN_TIMEOUT_MS = 30_000

# Every rendered event, as (kind, seq, text): tool results live on their tool card.
TIMELINE_JS = """() => [...document.querySelectorAll('.run [data-seq]')].flatMap((n) => {
  const own = [n.dataset.kind, Number(n.dataset.seq), n.textContent.trim()];
  return n.dataset.resultSeq ? [own, ['tool_completed', Number(n.dataset.resultSeq), '']] : [own];
})"""


def sign_up(page: Page, app_url: str) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    page.goto(app_url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    wait_connected(page)
    return email


def wait_connected(page: Page) -> None:
    page.wait_for_selector('#connection[data-state="open"]')


def ask(page: Page, question: str = QUESTION) -> None:
    box = page.get_by_label("Message")
    box.fill(question)
    box.press("Enter")


def wait_run(page: Page, status: str = "completed") -> None:
    page.wait_for_selector(f'.run[data-status="{status}"]', timeout=RUN_TIMEOUT_MS)


def timeline(page: Page) -> list[list[Any]]:
    return sorted(page.evaluate(TIMELINE_JS), key=lambda item: item[1])


def assert_nothing_doubled(page: Page) -> list[list[Any]]:
    items = timeline(page)
    seqs = [seq for _, seq, _ in items]
    assert len(seqs) == len(set(seqs)), f"a seq rendered twice: {items}"
    calls = page.eval_on_selector_all(".tool", "cards => cards.map(c => c.dataset.toolCallId)")
    assert len(calls) == len(set(calls)), f"a tool call rendered twice: {calls}"
    kinds = [kind for kind, _, _ in items]
    assert kinds.count("agent_started") == 1
    assert kinds.count("tool_executing") == kinds.count("tool_completed") == len(calls)
    return items
