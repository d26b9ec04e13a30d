"""Login limits over HTTP: a 429 in the error shape, with Retry-After, per account and address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from litestar.testing import AsyncTestClient

from services.auth.settings import AuthSettings
from tests.component.auth.conftest import ADMIN_KEY
from tests.component.auth.support import PASSWORD, assert_error, bearer, log_in, register

PER_ACCOUNT, PER_ADDRESS = 3, 5


@pytest.fixture
async def client(
    make_settings: Callable[..., AuthSettings],
    sqlite_url: str,
    make_client: Callable[[AuthSettings], AsyncTestClient],
) -> AsyncIterator[AsyncTestClient]:
    # The limits live in memory, the same on any database: SQLite is enough here.
    settings = make_settings(
        database_url=sqlite_url,
        login_max_per_account=PER_ACCOUNT,
        login_max_per_address=PER_ADDRESS,
        login_window_s=60,
    )
    async with make_client(settings) as client:
        yield client


async def test_too_many_failures_on_an_account_are_a_429_with_retry_after(
    client: AsyncTestClient,
) -> None:
    await register(client)
    for _ in range(PER_ACCOUNT):
        assert_error(await log_in(client, password="wrong guess"), 401, "invalid_credentials")

    response = await log_in(client, password="wrong guess")

    message = assert_error(response, 429, "rate_limited")
    assert message.startswith("too many failed logins for this account; try again in ")
    assert 0 < int(response.headers["retry-after"]) <= 60


async def test_while_limited_even_the_right_password_is_refused(client: AsyncTestClient) -> None:
    # Otherwise a guesser could go on guessing and learn the answer from a 200.
    await register(client)
    for _ in range(PER_ACCOUNT):
        await log_in(client, password="wrong guess")

    assert_error(await log_in(client), 429, "rate_limited")


async def test_an_account_that_does_not_exist_is_limited_the_same_way(
    client: AsyncTestClient,
) -> None:
    for _ in range(PER_ACCOUNT):
        await log_in(client, email="nobody@example.com")

    assert_error(await log_in(client, email="nobody@example.com"), 429, "rate_limited")


async def test_too_many_failures_from_one_address_lock_it_for_every_account(
    client: AsyncTestClient,
) -> None:
    for n in range(PER_ADDRESS):
        await log_in(client, email=f"sprayed{n}@example.com")

    message = assert_error(await log_in(client, email="fresh@example.com"), 429, "rate_limited")
    assert message.startswith("too many failed logins from this address; try again in ")


async def test_successful_logins_are_never_limited(client: AsyncTestClient) -> None:
    await register(client)

    for _ in range(PER_ADDRESS * 2):
        assert (await log_in(client)).status_code == 200


async def test_old_password_guesses_share_the_accounts_login_budget(
    client: AsyncTestClient,
) -> None:
    await register(client)
    access_token = (await log_in(client)).json()["access_token"]
    for _ in range(PER_ACCOUNT):
        await client.post(
            "/auth/password",
            json={"old_password": "a guess", "new_password": "new password!"},
            headers=bearer(access_token),
        )

    assert_error(await log_in(client, password=PASSWORD), 429, "rate_limited")


async def test_admin_key_guesses_are_limited_per_address(client: AsyncTestClient) -> None:
    async def revoke(key: str):
        return await client.post(
            "/auth/admin/revoke", json={"user_id": "u1"}, headers={"X-Admin-Key": key}
        )

    for n in range(PER_ACCOUNT):
        assert_error(await revoke(f"guess {n}"), 401, "unauthorized")

    message = assert_error(await revoke(ADMIN_KEY), 429, "rate_limited")
    assert message.startswith("too many wrong admin keys from this address; try again in ")
