"""The auth service over HTTP, as a client sees it: real app, real database, real keys.

Every test here runs on SQLite and, where a server answers, on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from devstack.keys import ensure_keypair
from services.auth.settings import AuthSettings
from shared.subjects import is_safe_token
from shared.tokens import TokenVerifier, load_public_key
from tests.component.auth.support import EMAIL, PASSWORD, assert_error, log_in, register

MakeClient = Callable[[AuthSettings], AsyncTestClient]


@pytest.fixture
def verifier(settings: AuthSettings, tmp_path: Path) -> TokenVerifier:
    """The gateway's current verifier: the public key from a PEM file."""
    public_key = load_public_key(ensure_keypair(tmp_path / "keys").public_path)
    return TokenVerifier(public_key, issuer=settings.issuer, audience=settings.audience)


async def test_register_creates_an_account_with_a_subject_safe_id(
    client: AsyncTestClient,
) -> None:
    response = await register(client)

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == EMAIL
    assert is_safe_token(body["user_id"])


async def test_register_stores_email_trimmed_and_lower_cased(client: AsyncTestClient) -> None:
    response = await register(client, email="  Ada@Example.COM ")

    assert response.json()["email"] == EMAIL


async def test_start_up_creates_the_sqlite_file_and_its_folder(
    sqlite_settings: AuthSettings, make_client: MakeClient, tmp_path: Path
) -> None:
    async with make_client(sqlite_settings):
        assert (tmp_path / "db" / "auth.db").exists()


async def test_registering_a_taken_email_is_a_conflict(client: AsyncTestClient) -> None:
    await register(client)

    response = await register(client, email="ADA@example.com", password="another password")

    assert "already exists" in assert_error(response, 409, "email_taken")


async def test_racing_registrations_for_one_email_create_one_account(
    client: AsyncTestClient,
) -> None:
    responses = await asyncio.gather(*(register(client) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


async def test_login_returns_a_bearer_token_for_the_registered_user(
    client: AsyncTestClient, verifier: TokenVerifier, settings: AuthSettings
) -> None:
    user_id = (await register(client)).json()["user_id"]

    response = await log_in(client)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_s
    assert body["refresh_expires_in"] == settings.refresh_token_ttl_s
    assert len(body["refresh_token"]) >= 32
    assert verifier.verify(body["access_token"]).user_id == user_id


async def test_login_ignores_email_case(client: AsyncTestClient) -> None:
    await register(client)

    response = await client.post(
        "/auth/login", json={"email": "ADA@Example.com", "password": PASSWORD}
    )

    assert response.status_code == 200


async def test_login_with_wrong_password_is_refused(client: AsyncTestClient) -> None:
    await register(client)

    response = await client.post("/auth/login", json={"email": EMAIL, "password": "wrong password"})

    assert_error(response, 401, "invalid_credentials")
    assert "access_token" not in response.text


async def test_unknown_email_is_refused_exactly_like_a_wrong_password(
    client: AsyncTestClient,
) -> None:
    await register(client)
    wrong_password = await client.post(
        "/auth/login", json={"email": EMAIL, "password": "wrong password"}
    )

    unknown = await client.post(
        "/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )

    assert_error(unknown, 401, "invalid_credentials")
    assert unknown.json() == wrong_password.json()


MALFORMED_BODIES = {
    "not json": b"this is not json",
    "empty": b"",
    "array": b"[]",
    "missing password": b'{"email": "ada@example.com"}',
    "email not a string": b'{"email": 42, "password": "long enough"}',
    "password not a string": b'{"email": "ada@example.com", "password": 12345678}',
}


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login"])
@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
async def test_malformed_body_is_a_bad_request_with_a_readable_message(
    client: AsyncTestClient, path: str, body: bytes
) -> None:
    response = await client.post(path, content=body, headers={"content-type": "application/json"})

    assert_error(response, 400, "invalid_request")


SIGN_UP_RULES = {
    "short password": b'{"email": "ada@example.com", "password": "short"}',
    "email without @": b'{"email": "ada.example.com", "password": "long enough"}',
}


@pytest.mark.parametrize("body", SIGN_UP_RULES.values(), ids=SIGN_UP_RULES.keys())
async def test_sign_up_rules_refuse_a_new_account_but_do_not_apply_at_login(
    client: AsyncTestClient, body: bytes
) -> None:
    headers = {"content-type": "application/json"}
    assert_error(
        await client.post("/auth/register", content=body, headers=headers), 400, "invalid_request"
    )
    # At login the same body is simply wrong credentials: raising a rule never locks anyone out.
    assert_error(
        await client.post("/auth/login", content=body, headers=headers), 401, "invalid_credentials"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"email": "ada@example.com", "password": "short"}',
            "password: Expected `str` of length >= 8",
        ),
        (b'{"email": "ada@example.com"}', "password: required field is missing"),
        (b'{"email": "ada", "password": "long enough"}', "email: Expected an email address"),
        (b"[]", "Expected `object`, got `array`"),
    ],
)
async def test_bad_request_message_names_the_field_at_fault(
    client: AsyncTestClient, body: bytes, message: str
) -> None:
    response = await client.post("/auth/register", content=body)

    assert message in assert_error(response, 400, "invalid_request")


async def test_oversized_body_is_refused_in_the_error_shape(client: AsyncTestClient) -> None:
    response = await client.post("/auth/register", content=b"x" * 100_000)

    assert_error(response, 413, "invalid_request")


async def test_unknown_path_answers_in_the_error_shape(client: AsyncTestClient) -> None:
    response = await client.get("/auth/nothing-here")

    assert_error(response, 404, "invalid_request")


async def test_wrong_method_answers_in_the_error_shape(client: AsyncTestClient) -> None:
    response = await client.get("/auth/login")

    assert_error(response, 405, "invalid_request")
    assert "POST" in response.headers["allow"]


async def test_database_failure_is_an_internal_error_that_leaks_nothing(
    sqlite_settings: AuthSettings,
    make_client: MakeClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with make_client(sqlite_settings) as client:
        with sqlite3.connect(tmp_path / "db" / "auth.db") as database:
            database.execute("DROP TABLE users")

        response = await register(client)

    message = assert_error(response, 500, "internal")
    assert "users" not in message and "sql" not in message.lower()
    assert "unhandled error" in caplog.text
    assert PASSWORD not in caplog.text and "argon2" not in caplog.text


async def test_healthz_says_ok(client: AsyncTestClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_accounts_survive_a_restart(settings: AuthSettings, make_client: MakeClient) -> None:
    async with make_client(settings) as first:
        await register(first)

    async with make_client(settings) as second:
        response = await log_in(second)

    assert response.status_code == 200
