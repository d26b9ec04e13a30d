"""Sessions over HTTP: refresh rotation, reuse detection, logout, password change, admin revoke.

Every test runs on SQLite and, where a server answers, on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import replace

import jwt
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.auth.settings import AuthSettings
from tests.component.auth.conftest import ADMIN_KEY
from tests.component.auth.support import (
    EMAIL,
    PASSWORD,
    assert_error,
    bearer,
    log_in,
    register,
    sign_up_and_log_in,
)

MakeClient = Callable[[AuthSettings], AsyncTestClient]
NEW_PASSWORD = "a whole new passphrase"


async def refresh(client: AsyncTestClient, refresh_token: str):
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def logout(client: AsyncTestClient, refresh_token: str):
    return await client.post("/auth/logout", json={"refresh_token": refresh_token})


def session_of(access_token: str) -> str:
    return jwt.decode(access_token, options={"verify_signature": False})["sid"]


async def test_refresh_returns_a_new_pair_in_the_same_session(client: AsyncTestClient) -> None:
    user_id, first = await sign_up_and_log_in(client)

    response = await refresh(client, first["refresh_token"])

    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    claims = jwt.decode(second["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user_id and claims["sid"] == session_of(first["access_token"])


async def test_each_refresh_token_works_once_and_its_successor_works_next(
    client: AsyncTestClient,
) -> None:
    _, pair = await sign_up_and_log_in(client)

    for _ in range(3):
        response = await refresh(client, pair["refresh_token"])
        assert response.status_code == 200, response.text
        pair = response.json()


async def test_reusing_a_spent_refresh_token_revokes_the_whole_session(
    client: AsyncTestClient,
) -> None:
    _, stolen = await sign_up_and_log_in(client)
    rotated = (await refresh(client, stolen["refresh_token"])).json()

    replay = await refresh(client, stolen["refresh_token"])

    assert "already used" in assert_error(replay, 401, "invalid_refresh_token")
    # The legitimate holder's newest token dies with the session: the thief's copy is worthless.
    assert "revoked" in assert_error(
        await refresh(client, rotated["refresh_token"]), 401, "invalid_refresh_token"
    )


async def test_racing_refreshes_of_one_token_cannot_both_win(client: AsyncTestClient) -> None:
    _, pair = await sign_up_and_log_in(client)

    responses = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(2)))

    assert sorted(r.status_code for r in responses) == [200, 401]


async def test_a_refresh_token_is_stored_only_as_its_hash(
    client: AsyncTestClient, settings: AuthSettings
) -> None:
    _, pair = await sign_up_and_log_in(client)
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT token_hash FROM refresh_tokens"))).all()
    finally:
        await engine.dispose()

    digest = hashlib.sha256(pair["refresh_token"].encode()).hexdigest()
    assert [row.token_hash for row in stored] == [digest]


async def test_an_unknown_refresh_token_is_refused(client: AsyncTestClient) -> None:
    response = await refresh(client, "A" * 43)

    assert "unknown" in assert_error(response, 401, "invalid_refresh_token")


async def test_an_expired_refresh_token_is_refused(
    settings: AuthSettings, make_client: MakeClient
) -> None:
    async with make_client(replace(settings, refresh_token_ttl_s=1)) as client:
        _, pair = await sign_up_and_log_in(client)
        await asyncio.sleep(1.2)

        response = await refresh(client, pair["refresh_token"])

    assert "expired" in assert_error(response, 401, "invalid_refresh_token")


async def test_logout_ends_that_session_and_no_other(client: AsyncTestClient) -> None:
    _, laptop = await sign_up_and_log_in(client)
    phone = (await log_in(client)).json()

    response = await logout(client, phone["refresh_token"])

    assert response.status_code == 204
    assert_error(await refresh(client, phone["refresh_token"]), 401, "invalid_refresh_token")
    assert (await refresh(client, laptop["refresh_token"])).status_code == 200


async def test_logout_twice_is_fine_and_an_unknown_token_is_refused(
    client: AsyncTestClient,
) -> None:
    _, pair = await sign_up_and_log_in(client)
    await logout(client, pair["refresh_token"])

    assert (await logout(client, pair["refresh_token"])).status_code == 204
    assert_error(await logout(client, "B" * 43), 401, "invalid_refresh_token")


async def change_password(
    client: AsyncTestClient, access_token: str, old: str = PASSWORD, new: str = NEW_PASSWORD
):
    return await client.post(
        "/auth/password",
        json={"old_password": old, "new_password": new},
        headers=bearer(access_token),
    )


async def test_password_change_ends_every_session_and_starts_a_new_one(
    client: AsyncTestClient,
) -> None:
    _, laptop = await sign_up_and_log_in(client)
    phone = (await log_in(client)).json()

    response = await change_password(client, laptop["access_token"])

    assert response.status_code == 200, response.text
    fresh = response.json()
    for old in (laptop, phone):
        assert_error(await refresh(client, old["refresh_token"]), 401, "invalid_refresh_token")
    assert (await refresh(client, fresh["refresh_token"])).status_code == 200
    assert_error(await log_in(client), 401, "invalid_credentials")
    assert (await log_in(client, password=NEW_PASSWORD)).status_code == 200


async def test_password_change_with_a_wrong_old_password_changes_nothing(
    client: AsyncTestClient,
) -> None:
    _, pair = await sign_up_and_log_in(client)

    response = await change_password(client, pair["access_token"], old="not my password")

    assert_error(response, 401, "invalid_credentials")
    assert (await refresh(client, pair["refresh_token"])).status_code == 200
    assert (await log_in(client)).status_code == 200


async def test_password_change_needs_a_valid_bearer_token(client: AsyncTestClient) -> None:
    _, pair = await sign_up_and_log_in(client)

    for headers in ({}, {"Authorization": "Basic abc"}, bearer(pair["refresh_token"])):
        response = await client.post(
            "/auth/password",
            json={"old_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_password_change_applies_the_sign_up_rules_to_the_new_password(
    client: AsyncTestClient,
) -> None:
    _, pair = await sign_up_and_log_in(client)

    response = await change_password(client, pair["access_token"], new="short")

    assert "new_password" in assert_error(response, 400, "invalid_request")


async def admin_revoke(client: AsyncTestClient, user_id: str, key: str | None = ADMIN_KEY):
    headers = {} if key is None else {"X-Admin-Key": key}
    return await client.post("/auth/admin/revoke", json={"user_id": user_id}, headers=headers)


async def test_admin_revoke_ends_every_session_of_the_user(client: AsyncTestClient) -> None:
    user_id, pair = await sign_up_and_log_in(client)

    response = await admin_revoke(client, user_id)

    assert response.status_code == 204
    assert_error(await refresh(client, pair["refresh_token"]), 401, "invalid_refresh_token")
    assert (await log_in(client)).status_code == 200  # the account itself still works


async def test_admin_revoke_needs_the_admin_key(client: AsyncTestClient) -> None:
    user_id, pair = await sign_up_and_log_in(client)

    for key in (None, "", "wrong", ADMIN_KEY[:-1], ADMIN_KEY + "x"):
        assert_error(await admin_revoke(client, user_id, key), 401, "unauthorized")
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_admin_revoke_of_an_unknown_user_says_so(client: AsyncTestClient) -> None:
    assert_error(await admin_revoke(client, "no_such_user"), 404, "user_not_found")


async def test_admin_revoke_is_not_there_without_an_admin_key(
    settings: AuthSettings, make_client: MakeClient
) -> None:
    async with make_client(replace(settings, admin_api_key=None)) as client:
        await register(client, EMAIL)
        response = await admin_revoke(client, "anyone")

    assert_error(response, 404, "invalid_request")


async def test_an_access_token_of_an_ended_session_cannot_change_the_password(
    client: AsyncTestClient,
) -> None:
    _, pair = await sign_up_and_log_in(client)
    await logout(client, pair["refresh_token"])

    response = await change_password(client, pair["access_token"])

    assert "revoked" in assert_error(response, 401, "unauthorized")
    assert (await log_in(client)).status_code == 200  # the password is unchanged


async def test_after_an_admin_revoke_only_tokens_issued_since_can_change_the_password(
    client: AsyncTestClient,
) -> None:
    user_id, before = await sign_up_and_log_in(client)
    await admin_revoke(client, user_id)
    after = (await log_in(client)).json()

    assert_error(await change_password(client, before["access_token"]), 401, "unauthorized")
    assert (await change_password(client, after["access_token"])).status_code == 200
