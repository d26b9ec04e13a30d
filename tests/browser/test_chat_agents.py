"""Agent choice in the chat page against the whole stack, with a second agent registered
(``echo``, from tests/integration/sample_agents.py) next to the built-in analyst."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.chat import ask, sign_up

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.integration

STACK_ENV = {"AGENTS": "tests.integration.sample_agents:echo", "STREAM_TOKENS_PER_S": "0"}
RUN_TIMEOUT_MS = 30_000


def test_a_message_goes_to_the_agent_chosen_and_the_default_otherwise(
    context: BrowserContext, app_url: str, tmp_path: Path
) -> None:
    page = context.new_page()
    sign_up(page, app_url)
    select = page.get_by_label("Agent", exact=True)
    select.wait_for()
    options = page.eval_on_selector_all(
        "#agent option", "os => os.map((o) => [o.value, o.textContent, o.title])"
    )
    assert [value for value, _, _ in options] == ["infra_analyst", "echo"]
    assert options[0][1] == "infra_analyst (default)" and select.input_value() == "infra_analyst"
    assert options[1][2] == "Repeats your message.", "the description is the option's title"

    select.select_option("echo")
    ask(page, "hello there")
    page.wait_for_selector('.run[data-status="completed"] .answer', timeout=RUN_TIMEOUT_MS)
    assert page.locator(".answer .outcome-text").inner_text() == "echo: hello there"
    page.screenshot(path=str(tmp_path / "agent-choice-1280x900.png"))

    select.select_option("infra_analyst")
    ask(page, "Why is the api slow this week?")
    page.wait_for_selector(
        '.run:nth-of-type(2)[data-status="completed"] .answer', timeout=RUN_TIMEOUT_MS
    )
    assert not page.locator(".run:nth-of-type(2) .outcome-text").inner_text().startswith("echo:")
