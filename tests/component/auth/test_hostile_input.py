"""Hostile input, generated: every auth endpoint answers a 4xx in the error shape, never a 5xx.

Hypothesis sends malformed JSON, wrong types, huge and deeply nested payloads, bytes that are not
UTF-8, and unicode edge cases (NUL, bidi overrides, case folds that change length, emoji, ids
built to widen a NATS subject) in every field and in the headers that carry credentials. After
each request the service must still answer ``/healthz``; at the end a real user still gets in.

Runs on SQLite and, where a server answers, on PostgreSQL: NUL in text, for one, is a problem
only PostgreSQL has.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from services.auth.settings import AuthSettings
from tests.component.auth.conftest import ADMIN_KEY
from tests.component.auth.support import bearer, log_in, register, sign_up_and_log_in

HOSTILE = settings(
    max_examples=60,
    deadline=None,  # a loaded CI machine is slow, not wrong
    database=None,  # no example database: each run explores afresh, nothing kept between runs
    # One app per test, shared by its examples: that it stays up across them is the point.
    suppress_health_check=list(HealthCheck),
)

NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "ada\x00@example.com",
    "\u202eada@example.com",  # right-to-left override
    "İ" * 200 + "@example.com",  # lower-cases to two characters each: longer after normalising
    "\ufeffada@example.com",
    "\u2028\u2029",
    "💥" * 300,
    "a" * 5000,
    "*",
    ">",
    "user.*.events",
    "a b",
    "../../etc/passwd",
    "'; DROP TABLE users; --",
    "${jndi:ldap://example.com/a}",
    "%00%0d%0a",
]

RAW_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"just a string"',
    b"{",
    b'{"email": "\xff\xfe"}',  # not UTF-8
    b'{"email": "\xed\xa0\x80@example.com", "password": "long enough"}',  # an encoded surrogate
    b'{"email": "\\ud800@example.com", "password": "long enough"}',  # a lone surrogate escape
    b'{"refresh_token": "\\u0000' + b"A" * 40 + b'"}',
    # NUL in text that reaches a query: PostgreSQL refuses it, so it must never get that far.
    b'{"email": "ada\\u0000@example.com", "password": "long enough"}',
    b'{"email": "ada@example.com\\u0000", "password": "\\u0000\\u0000\\u0000\\u0000"}',
    b'{"user_id": "\\u0000", "old_password": "\\u0000", "new_password": "\\u0000\\u0000"}',
    b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
    "{}".encode("utf-16"),
    b"[" * 16_000 + b"]" * 16_000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"email": 1e999999, "password": -1e999999}',
    b'{"email": 123456789012345678901234567890, "password": true}',
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=15,
)
field_values = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=300), json_values)


def shaped_bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    """Objects with the endpoint's own field names (some missing, some extra), any values."""
    objects = st.fixed_dictionaries(
        {}, optional=dict.fromkeys(fields, field_values) | {"extra": json_values}
    )
    return st.tuples(objects, st.booleans()).map(
        lambda pair: json.dumps(pair[0], ensure_ascii=pair[1]).encode()
    )


def bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        shaped_bodies(fields),
        st.sampled_from(RAW_BODIES),
        st.binary(max_size=500),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.integers(1, 20_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(16 * 1024, 100_000).map(lambda n: b'{"email": "' + b"a" * n + b'"}'),
    )


# Header values as a client could send them: any byte but CR, LF and NUL.
header_values = st.binary(max_size=300).map(
    lambda raw: raw.replace(b"\r", b"").replace(b"\n", b"").replace(b"\x00", b"")
)


def assert_refused_in_shape(response: Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
        assert all(isinstance(v, str) and v for v in error.values())


async def still_up(client: AsyncTestClient) -> None:
    assert (await client.get("/healthz")).status_code == 200


@pytest.fixture
async def client(
    settings: AuthSettings,
    make_client: Callable[[AuthSettings], AsyncTestClient],
) -> AsyncIterator[AsyncTestClient]:
    # Limits so high that every example reaches the code behind them, not just the 429.
    unlimited = replace(settings, login_max_per_account=10**6, login_max_per_address=10**6)
    async with make_client(unlimited) as client:
        yield client


@pytest.fixture
async def access_token(client: AsyncTestClient) -> str:
    _, pair = await sign_up_and_log_in(client, email="victim@example.com")
    return pair["access_token"]


ENDPOINTS = {
    "/auth/register": ["email", "password"],
    "/auth/login": ["email", "password"],
    "/auth/refresh": ["refresh_token"],
    "/auth/logout": ["refresh_token"],
    "/auth/admin/revoke": ["user_id"],
}


@pytest.mark.parametrize("path", ENDPOINTS)
@HOSTILE
@given(data=st.data())
async def test_every_endpoint_refuses_hostile_bodies_in_the_error_shape(
    client: AsyncTestClient, path: str, data: st.DataObject
) -> None:
    body = data.draw(bodies(ENDPOINTS[path]), label="body")
    headers = {"content-type": "application/json", "X-Admin-Key": ADMIN_KEY}

    assert_refused_in_shape(await client.post(path, content=body, headers=headers))
    await still_up(client)


@HOSTILE
@given(body=bodies(["old_password", "new_password"]))
async def test_password_change_refuses_hostile_bodies_in_the_error_shape(
    client: AsyncTestClient, access_token: str, body: bytes
) -> None:
    response = await client.post("/auth/password", content=body, headers=bearer(access_token))

    assert_refused_in_shape(response)
    await still_up(client)


@HOSTILE
@given(authorization=header_values, admin_key=header_values)
async def test_hostile_credential_headers_are_refused_in_the_error_shape(
    client: AsyncTestClient, authorization: bytes, admin_key: bytes
) -> None:
    password = await client.post(
        "/auth/password",
        json={"old_password": "whatever", "new_password": "whatever else"},
        headers={"Authorization": authorization},
    )
    admin = await client.post(
        "/auth/admin/revoke", json={"user_id": "someone"}, headers={"X-Admin-Key": admin_key}
    )

    for response in (password, admin):
        assert_refused_in_shape(response)
        assert response.status_code != 200 and response.status_code != 204


async def test_after_a_storm_of_hostile_bodies_a_real_user_still_gets_in(
    client: AsyncTestClient,
) -> None:
    headers = {"content-type": "application/json", "X-Admin-Key": ADMIN_KEY}
    for path in [*ENDPOINTS, "/auth/password"]:
        for body in RAW_BODIES:
            assert_refused_in_shape(await client.post(path, content=body, headers=headers))

    assert (await register(client, email="after.storm@example.com")).status_code == 201
    assert (await log_in(client, email="after.storm@example.com")).status_code == 200
