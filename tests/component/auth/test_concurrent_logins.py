"""Login limits under concurrency, over real connections to uvicorn on a loopback port.

Correct logins are never refused however many arrive at once from one address, and concurrent
wrong guesses get no more verifications than the limit allows: the limits count failures only,
and attempts that together could overrun a limit wait for each other (services/auth/ratelimit.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from services.auth.passwords import PasswordHasher
from services.auth.settings import (
    DEFAULT_LOGIN_MAX_PER_ACCOUNT,
    DEFAULT_LOGIN_MAX_PER_ADDRESS,
    AuthSettings,
)
from tests.component.auth.conftest import Serve
from tests.component.auth.support import PASSWORD

ACCOUNT_MESSAGE = "too many failed logins for this account"
ADDRESS_MESSAGE = "too many failed logins from this address"


class CountingHasher(PasswordHasher):
    """The test's cheap hasher, counting the passwords it checks."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._inner, self.verified = hasher, 0

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        self.verified += 1
        return await self._inner.verify(stored_hash, password)


@pytest.fixture
def settings(make_settings: Callable[..., AuthSettings], sqlite_url: str) -> AuthSettings:
    # The default limits: the burst below is three times LOGIN_MAX_PER_ADDRESS.
    return make_settings(database_url=sqlite_url)


def http(url: str) -> httpx.AsyncClient:
    # One connection per request: "at once" means at once, not queued in the client's pool.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=60)


async def register(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


def outcomes(responses: list[httpx.Response]) -> Counter[str]:
    """``{"200": n, "401": n, "429 <message>": n}``: what the callers saw, grouped."""
    seen: Counter[str] = Counter()
    for response in responses:
        if response.status_code == 429:
            seen[f"429 {response.json()['error']['message'].split(';')[0]}"] += 1
        else:
            seen[str(response.status_code)] += 1
    return seen


async def test_300_correct_logins_at_once_from_one_address_all_succeed(
    serve: Serve, settings: AuthSettings
) -> None:
    logins, accounts = 3 * DEFAULT_LOGIN_MAX_PER_ADDRESS, 20
    # 15 at once per account, too: more than LOGIN_MAX_PER_ACCOUNT.
    assert logins // accounts > DEFAULT_LOGIN_MAX_PER_ACCOUNT
    async with http(await serve(settings)) as client:
        emails = [f"user{n}@example.com" for n in range(accounts)]
        await asyncio.gather(*(register(client, email) for email in emails))

        started = time.perf_counter()
        responses = await asyncio.gather(
            *(log_in(client, emails[n % accounts]) for n in range(logins))
        )
        elapsed = time.perf_counter() - started

    assert outcomes(responses) == {"200": logins}
    print(f"{logins} correct logins at once from one address: {elapsed:.2f} s")


async def test_the_eleventh_wrong_password_is_limited_while_another_account_logs_in(
    serve: Serve, settings: AuthSettings
) -> None:
    async with http(await serve(settings)) as client:
        await register(client, "ada@example.com")
        await register(client, "bob@example.com")
        for _ in range(DEFAULT_LOGIN_MAX_PER_ACCOUNT):
            assert (await log_in(client, "ada@example.com", "wrong guess")).status_code == 401

        limited = await log_in(client, "ada@example.com", "wrong guess")
        other = await log_in(client, "bob@example.com")

    assert limited.status_code == 429
    assert limited.json()["error"]["message"].startswith(f"{ACCOUNT_MESSAGE}; try again in ")
    assert 0 < int(limited.headers["retry-after"]) <= settings.login_window_s
    assert other.status_code == 200  # same address, another account: untouched


async def test_50_wrong_guesses_at_once_at_one_account_get_only_the_limit_verified(
    serve: Serve, settings: AuthSettings, hasher: PasswordHasher
) -> None:
    counting = CountingHasher(hasher)
    async with http(await serve(settings, passwords=counting)) as client:
        await register(client, "ada@example.com")
        responses = await asyncio.gather(
            *(log_in(client, "ada@example.com", f"guess {n}") for n in range(50))
        )
        afterwards = await log_in(client, "ada@example.com")

    limit = DEFAULT_LOGIN_MAX_PER_ACCOUNT
    assert outcomes(responses) == {"401": limit, f"429 {ACCOUNT_MESSAGE}": 50 - limit}
    assert counting.verified == limit
    assert afterwards.status_code == 429  # even the right password, until the window passes


async def test_wrong_guesses_at_once_at_many_accounts_stay_within_the_address_limit(
    serve: Serve, make_settings: Callable[..., AuthSettings], sqlite_url: str
) -> None:
    per_address = 20
    settings = make_settings(database_url=sqlite_url, login_max_per_address=per_address)
    async with http(await serve(settings)) as client:
        responses = await asyncio.gather(
            *(log_in(client, f"sprayed{n}@example.com", "password1") for n in range(100))
        )

    assert outcomes(responses) == {"401": per_address, f"429 {ADDRESS_MESSAGE}": 100 - per_address}
