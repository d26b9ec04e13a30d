"""Browser tests: Playwright for Python driving Debian's Chromium, against the whole stack.

Playwright's own browser download does not work here, so the tests launch the system Chromium by
its path (``apt-get install chromium``). Without it they skip, unless ``REQUIRE_BROWSER=1`` (set
by CI), which turns a missing browser into a failure.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from devstack.stack import Stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Route

STATIC = Path(__file__).resolve().parents[2] / "services" / "ws_gateway" / "static"
STATIC_ORIGIN = "http://agentwire.test"

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or next((p for p in CHROMIUM_PATHS if Path(p).exists()), None)


def _missing(why: str) -> None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        _missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: its own localStorage, so its own login. A script error on any
    of its pages (an uncaught exception, an unhandled rejection) fails the test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(20_000)
    errors = watch_script_errors(ctx)
    try:
        yield ctx
    finally:
        ctx.close()
    assert not errors, f"script errors on the page: {errors}"


def watch_script_errors(ctx: BrowserContext) -> list[str]:
    """The uncaught errors of every page the context opens, as they happen."""
    errors: list[str] = []
    ctx.on("page", lambda page: page.on("pageerror", lambda error: errors.append(str(error))))
    return errors


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The whole stack; the gateway serves the UI. Thinking is slowed so a test can act mid-run.
    A test module's ``STACK_ENV`` (a dict) adds to or overrides the services' environment."""
    data_dir = tmp_path_factory.mktemp("browser-stack")

    def sink(name: str, line: str) -> None:
        with open(data_dir / f"{name}.log", "a") as out:
            out.write(line + "\n")

    running = Stack(data_dir=data_dir, sink=sink, nats_url=nats_url)
    running.extra_env.update(
        {"THINK_DELAY_S": "0.5", "AUTH_CORS_ORIGINS": running.http_url}  # the UI's origin
    )
    running.extra_env.update(getattr(request.module, "STACK_ENV", {}))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def app_url(stack: Stack) -> str:
    """The chat page, told where the auth service is (its port is random in tests)."""
    return f"{stack.http_url}/?auth={stack.auth_url}"


def _serve_static(route: Route) -> None:
    name = urlsplit(route.request.url).path.lstrip("/") or "blank"
    if name == "blank":
        route.fulfill(
            body="<!doctype html><title>test</title><main></main>", content_type="text/html"
        )
        return
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    route.fulfill(path=str(STATIC / name), content_type=kind)


@pytest.fixture
def static_page(context: BrowserContext) -> Page:
    """A blank page on a made-up origin that serves the UI's files from the source tree, for
    testing them without a server: ``await import("/agentwire.js")``, or the chat page itself
    at ``/index.html`` (give it a WebSocket of your own with ``add_init_script``)."""
    page = context.new_page()
    page.route(f"{STATIC_ORIGIN}/**", _serve_static)
    page.goto(f"{STATIC_ORIGIN}/blank")
    return page
