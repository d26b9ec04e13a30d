"""When the LLM client tries again: Retry-After in its three spellings, backoff, the bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.agent.llm.retry import Retries, retry_after_s

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "Mon, 07 Dec 2026 12:00:07 GMT"}, 7.0),
        ({"retry-after": "Mon, 07 Dec 2026 11:59:00 GMT"}, 0.0),  # already past: go now
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # OpenAI's finer header first
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_s(headers, now=NOW) == seconds


def test_the_servers_wait_is_honoured_up_to_the_bound_and_past_it_we_give_up() -> None:
    retries = Retries(max_retries=3, max_wait_s=10.0)
    assert retries.delay(0, retry_after=4.0) == 4.0
    assert retries.delay(0, retry_after=11.0) is None


def test_without_a_server_wait_the_backoff_doubles_with_jitter_under_the_bound() -> None:
    retries = Retries(max_retries=5, backoff_s=1.0, max_wait_s=3.0)
    for done, ceiling in [(0, 1.0), (1, 2.0), (2, 3.0), (4, 3.0)]:
        delay = retries.delay(done, retry_after=None)
        assert delay is not None and ceiling / 2 <= delay <= ceiling


def test_no_wait_is_offered_once_the_retries_are_spent() -> None:
    assert Retries(max_retries=2).delay(2, retry_after=None) is None
    assert Retries(max_retries=0).delay(0, retry_after=0.0) is None
