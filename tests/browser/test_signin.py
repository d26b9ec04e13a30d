"""The sign-in form against a scripted auth service (no stack): what a person reads when
signing up goes wrong, and what Enter does."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import STATIC_ORIGIN, _serve_static

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

AUTH = "http://auth.test"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    form = context.new_page()
    form.route(f"{STATIC_ORIGIN}/**", _serve_static)
    form.goto(f"{STATIC_ORIGIN}/index.html?auth={AUTH}")
    form.wait_for_selector("#auth-view:not([hidden])")
    return form


def refuse(page: Page, status: int, code: str, message: str) -> list[str]:
    """Every auth request is answered with this error; returns the paths asked for."""
    asked: list[str] = []

    def answer(route: Route) -> None:
        asked.append(route.request.url.removeprefix(AUTH))
        route.fulfill(
            status=status,
            content_type="application/json",
            headers={"access-control-allow-origin": "*"},
            body=json.dumps({"error": {"code": code, "message": message}}),
        )

    page.route(f"{AUTH}/**", answer)
    return asked


@pytest.mark.parametrize(
    ("status", "code", "message", "shown"),
    [
        (400, "invalid_request", "Expected `str` matching regex '^[^@]+@[^@]+$' - at `$.email`",
         "Enter a valid email address, like ada@example.com."),
        (400, "invalid_request", "Expected `str` of length <= 1024 - at `$.password`",
         "That password is too long (1,024 characters at most)."),
        (409, "email_taken", "email already registered",
         "An account with this email already exists. Log in instead."),
        (500, "internal", "internal error",
         "The sign-in service had a problem. Try again in a moment."),
    ],
)  # fmt: skip
def test_sign_up_errors_are_plain_words(
    page: Page, status: int, code: str, message: str, shown: str
) -> None:
    asked = refuse(page, status, code, message)
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_function("!document.querySelector('#signup-button').disabled")
    assert page.locator("#auth-error").inner_text() == shown
    assert asked == ["/auth/register"]


def test_a_short_password_is_caught_before_anything_is_sent(page: Page) -> None:
    asked = refuse(page, 400, "invalid_request", "Expected `str` of length >= 8 - at `$.password`")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    assert page.locator("#auth-error").inner_text() == "Choose a password of at least 8 characters."
    assert asked == []
    assert page.evaluate("document.activeElement.id") == "password"


def test_enter_signs_up_once_sign_up_was_chosen_and_logs_in_before(page: Page) -> None:
    asked = refuse(page, 401, "invalid_credentials", "invalid email or password")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Password").press("Enter")
    page.wait_for_function("!document.querySelector('#login-button').disabled")
    assert asked == ["/auth/login"]
    assert page.locator("#auth-error").inner_text() == "Wrong email or password."

    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()  # too short: nothing sent, mode kept
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_label("Password").press("Enter")
    page.wait_for_function("!document.querySelector('#signup-button').disabled")
    assert asked == ["/auth/login", "/auth/register"]
    assert "primary" in (page.locator("#signup-button").get_attribute("class") or "")
