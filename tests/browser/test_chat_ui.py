"""The chat page in a real browser, against the whole stack: what a person sees and does."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.chat import (
    PASSWORD,
    QUESTION,
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


def save_screenshot(page: Page, tmp_path: Path) -> None:
    """Into the test's tmp dir, to look at (docs/screenshot.png comes from test_chat_stream)."""
    page.locator("#message").blur()
    page.evaluate("document.getElementById('timeline').scrollTop = 0")
    page.screenshot(path=str(tmp_path / "timeline.png"))


def test_new_user_signs_up_and_watches_all_five_event_kinds(
    context: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1200, "height": 1100})
    email = sign_up(page, app_url)
    assert page.locator("#user-email").inner_text() == email
    ask(page)
    wait_run(page)

    items = assert_nothing_doubled(page)
    kinds = [kind for kind, _, _ in items]
    assert kinds[0] == "agent_started" and kinds[-1] == "agent_completed"
    assert kinds.count("agent_thinking") >= 2 and kinds.count("tool_executing") >= 2
    tools = page.locator(".tool")
    assert tools.first.locator(".tool-name").inner_text() == "analyze_performance"
    assert "service=api" in tools.first.locator(".tool-params").inner_text()
    for i in range(tools.count()):
        card = tools.nth(i)
        assert "done" in (card.get_attribute("class") or ""), "each spinner became a result"
        assert card.locator(".tool-duration").inner_text().endswith("ms")
        assert card.locator(".tool-summary").inner_text() not in ("", "running…")
    answer = page.locator('[data-kind="agent_completed"]')
    assert "p99" in answer.inner_text()
    assert page.locator(".run .user-msg").inner_text() == QUESTION
    assert page.locator(".run .stop").is_hidden(), "no Stop button on a finished run"
    save_screenshot(page, tmp_path)


def test_the_chat_works_from_the_keyboard_alone(context: BrowserContext, app_url: str) -> None:
    page = context.new_page()
    page.goto(app_url)
    page.wait_for_selector("#email")
    assert page.evaluate("document.activeElement.id") == "email"
    page.keyboard.type(f"{uuid.uuid4().hex[:12]}@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")  # Log in
    page.keyboard.press("Tab")  # Sign up
    page.keyboard.press("Enter")
    wait_connected(page)
    assert page.evaluate("document.activeElement.id") == "message"
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    wait_run(page)


def test_timeline_completes_after_the_socket_drops_mid_run(
    context: BrowserContext, app_url: str
) -> None:
    """Needs the gateway's resume (``/ws?after_seq=N``)."""
    page = context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    sign_up(page, app_url)
    watcher = context.new_page()  # a second tab that keeps its socket: the reference
    watcher.goto(app_url)
    wait_connected(watcher)

    ask(page)
    page.wait_for_selector('[data-kind="agent_thinking"]')
    context.set_offline(True)  # reconnect attempts fail until the network is back
    page.evaluate("window.agentwireApp.client.socket.close()")
    # Dropped: reconnecting, or already trying again (an attempt offline may hang a while).
    page.wait_for_function("window.agentwireApp.client.state !== 'open'")
    page.wait_for_timeout(1500)  # the run goes on meanwhile
    context.set_offline(False)
    wait_run(page)
    wait_run(watcher)

    assert any("after_seq=" in url for url in sockets[1:]), sockets
    assert timeline(page) == timeline(watcher)
    assert_nothing_doubled(page)
    assert page.evaluate("window.agentwireApp.client.lastSeq") == timeline(page)[-1][1]


def test_stop_cancels_the_run(context: BrowserContext, app_url: str) -> None:
    """Needs the agent's cancel."""
    page = context.new_page()
    sign_up(page, app_url)
    ask(page)
    page.wait_for_selector('[data-kind="agent_thinking"]')
    page.locator(".run .stop").click()
    wait_run(page, "cancelled")
    assert page.locator('[data-kind="agent_cancelled"]').count() == 1
    assert page.locator('[data-kind="agent_completed"]').count() == 0
    assert page.locator(".run .badge").inner_text() == "Cancelled"
    # The Stop button went away with the run: the focus is back in the message box, not lost.
    page.wait_for_function("document.activeElement.id === 'message'")


def test_two_tabs_show_the_same_timeline(context: BrowserContext, app_url: str) -> None:
    first = context.new_page()
    sign_up(first, app_url)
    second = context.new_page()  # same profile: already logged in
    second.goto(app_url)
    wait_connected(second)

    ask(first)
    wait_run(first)
    wait_run(second)
    assert timeline(first) == timeline(second)
    assert_nothing_doubled(second)
    thread = first.evaluate("window.agentwireApp.current")
    assert second.evaluate("window.agentwireApp.current") == thread, "the idle tab followed"


def stored_session(page: Page) -> dict[str, Any]:
    return page.evaluate("JSON.parse(localStorage.getItem('agentwire.session'))")


def test_a_session_ended_elsewhere_closes_the_socket_and_shows_the_form(
    context: BrowserContext, app_url: str, stack: Any
) -> None:
    """Logging the session out behind the page's back (another app did): 4403, sign-in form."""
    page = context.new_page()
    sign_up(page, app_url)
    refresh_token = stored_session(page)["refreshToken"]
    status = page.evaluate(
        """async ([url, token]) => (await fetch(url + "/auth/logout", {method: "POST",
             headers: {"content-type": "application/json"},
             body: JSON.stringify({refresh_token: token})})).status""",
        [stack.auth_url, refresh_token],
    )
    assert status == 204
    page.wait_for_selector("#auth-view:not([hidden])", timeout=10_000)
    assert "signed out" in page.locator("#auth-error").inner_text()
    assert stored_session(page) is None


def test_log_out_ends_the_session_at_the_auth_service(
    context: BrowserContext, app_url: str, stack: Any
) -> None:
    page = context.new_page()
    sign_up(page, app_url)
    other = context.new_page()  # same profile: signed in too
    other.goto(app_url)
    wait_connected(other)
    refresh_token = stored_session(page)["refreshToken"]
    with page.expect_request(lambda r: r.url.endswith("/auth/logout")) as sent:
        page.get_by_role("button", name="Log out").click()
    assert sent.value.post_data_json == {"refresh_token": refresh_token}
    page.wait_for_selector("#auth-view:not([hidden])")
    other.wait_for_selector("#auth-view:not([hidden])", timeout=10_000)
    assert "signed out" in other.locator("#auth-error").inner_text()
    status = page.evaluate(
        """async ([url, token]) => (await fetch(url + "/auth/refresh", {method: "POST",
             headers: {"content-type": "application/json"},
             body: JSON.stringify({refresh_token: token})})).status""",
        [stack.auth_url, refresh_token],
    )
    assert status == 401


def add_long_thread(stack: Any, user_id: str, count: int) -> str:
    """A thread of ``count`` finished runs written straight to the agent's database."""
    from sqlalchemy import create_engine

    from services.agent.models import RunRecord, ThreadRecord

    thread_id, start = uuid.uuid4().hex, datetime.now(UTC) - timedelta(hours=1)
    runs = [
        {"id": uuid.uuid4().hex, "thread_id": thread_id, "user_id": user_id,
         "content": f"question {i}", "status": "completed", "result": f"answer {i}",
         "created_at": start + timedelta(seconds=i), "finished_at": start + timedelta(seconds=i),
         "cancel_requested": False, "announced": True}
        for i in range(count)
    ]  # fmt: skip
    thread = {"id": thread_id, "user_id": user_id, "title": "a long thread", "updated_at": start}
    engine = create_engine(f"sqlite:///{stack.data_dir / 'agent.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(ThreadRecord.__table__.insert(), [thread])
            connection.execute(RunRecord.__table__.insert(), runs)
    finally:
        engine.dispose()
    return thread_id


def test_a_long_thread_opens_on_its_newest_runs_and_loads_earlier_ones_on_request(
    context: BrowserContext, app_url: str, stack: Any
) -> None:
    first = context.new_page()
    sign_up(first, app_url)
    token = stored_session(first)["accessToken"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    thread_id = add_long_thread(stack, claims["sub"], 60)

    page = context.new_page()  # same profile: signed in, opening the thread from its link
    page.goto(f"{app_url}#thread={thread_id}")
    wait_connected(page)
    page.wait_for_function("document.querySelectorAll('.run').length === 50")
    earlier = page.get_by_role("button", name="Load earlier runs")
    assert earlier.is_visible()
    assert page.locator(".run .user-msg").last.inner_text() == "question 59"

    earlier.click()
    page.wait_for_function("document.querySelectorAll('.run').length === 60")
    messages = page.locator(".run .user-msg").all_inner_texts()
    assert messages == [f"question {i}" for i in range(60)]  # oldest first, each once
    assert earlier.is_hidden()
