"""The chat page where WebSockets cannot be opened (none in the browser, or a constructor that
throws): agentwire.js falls back to GET /events (SSE, read with fetch) and POST /events by
itself, against the whole stack. It chats, streams, resumes after the stream drops, and stops a
run; a tab on a WebSocket is the reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    from playwright.sync_api import BrowserContext, Page, Request

pytestmark = pytest.mark.integration

STACK_ENV = {"STREAM_TOKENS_PER_S": "40"}
NOWHERE = "ws://127.0.0.1:9/ws"
NO_WEBSOCKET = {
    "undefined": "window.WebSocket = undefined;",
    "throws": """window.WebSocket = class { constructor() {
      throw new DOMException("blocked by policy", "SecurityError"); } };""",
    # A proxy that breaks them: every socket fails before it opens (nothing listens there).
    "never_opens": f"""window.WebSocket = class extends WebSocket {{
      constructor(url, protocols) {{ super("{NOWHERE}", protocols); }} }};""",
}


def record_events_requests(page: Page) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def on_request(request: Request) -> None:
        if request.url.split("?")[0].endswith("/events"):
            headers = request.headers
            seen.append({"method": request.method, "url": request.url,
                         "auth": headers.get("authorization", ""),
                         "last_event_id": headers.get("last-event-id")})  # fmt: skip

    page.on("request", on_request)
    return seen


@pytest.mark.parametrize("blocked", ["undefined", "throws", "never_opens"])
def test_without_websockets_the_chat_streams_resumes_and_stops_over_http(
    context: BrowserContext, app_url: str, blocked: str
) -> None:
    page = context.new_page()
    page.add_init_script(NO_WEBSOCKET[blocked])
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    requests = record_events_requests(page)
    sign_up(page, app_url)
    assert page.locator("#connection").inner_text() == "Live · HTTP fallback"
    watcher = context.new_page()  # a tab on a WebSocket: the reference
    watcher.goto(app_url)
    wait_connected(watcher)
    assert watcher.locator("#connection").inner_text() == "Live · WebSocket"

    ask(page, QUESTION)
    page.wait_for_selector(".thinking.writing, .answer.writing", timeout=RUN_TIMEOUT_MS)
    page.wait_for_selector('[data-kind="agent_thinking"]', timeout=RUN_TIMEOUT_MS)
    page.evaluate("window.agentwireApp.client.socket.drop()")  # the stream breaks mid-run
    page.wait_for_function("window.agentwireApp.client.state !== 'open'")
    wait_connected(page)
    page.wait_for_selector(".answer.writing", timeout=RUN_TIMEOUT_MS)  # still streaming
    wait_run(page)
    wait_run(watcher)

    assert timeline(page) == timeline(watcher)
    assert_nothing_doubled(page)
    assert page.locator(".answer .outcome-text").inner_text() == (
        watcher.locator(".answer .outcome-text").inner_text()
    )
    streams = [r for r in requests if r["method"] == "GET"]
    assert len(streams) >= 2 and streams[-1]["last_event_id"], streams  # resumed from its seq
    assert {r["method"] for r in requests} == {"GET", "POST"}
    token = page.evaluate("JSON.parse(localStorage.getItem('agentwire.session')).accessToken")
    assert all(r["auth"] == f"Bearer {token}" or r["auth"].startswith("Bearer ") for r in requests)
    assert not any(token in r["url"] for r in requests), "a token never goes in a URL"
    tried = len(sockets) if blocked == "never_opens" else 0
    assert sockets == [NOWHERE] * tried, "no WebSocket reached the gateway"
    assert tried in (0, 3), "three failed opens in a row, then HTTP"

    ask(page, "Where could we save money on the db?")
    page.wait_for_selector('.run:nth-of-type(2) [data-kind="agent_thinking"]',
                           timeout=RUN_TIMEOUT_MS)  # fmt: skip
    page.locator(".run:nth-of-type(2) .stop").click()
    page.wait_for_selector('.run:nth-of-type(2)[data-status="cancelled"]', timeout=RUN_TIMEOUT_MS)
    watcher.wait_for_selector('.run:nth-of-type(2)[data-status="cancelled"]')
