"""The auth service on a real nats-server: JWKS by request, revocations and key changes published.

These are what a gateway relies on: it verifies with the key set it fetched over NATS, follows a
key rotation without a restart, and closes sockets when a revocation arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import jwt
import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from devstack.keys import add_ring_key, retire_ring_key
from services.auth.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER, AuthSettings
from shared import subjects
from shared.bus import until_subscribed
from shared.errors import Unauthorized
from shared.settings import NatsSettings
from shared.tokens import KeySetVerifier, fetch_jwks
from shared.wire.keys import Jwks, decode_jwks
from shared.wire.revocation import Revocation, decode_revocation
from tests.component.auth.conftest import ADMIN_KEY
from tests.component.auth.support import PASSWORD, bearer, log_in, sign_up_and_log_in

MakeClient = Callable[[AuthSettings], AsyncTestClient]
# Generous for a loaded machine; the gateway's budget is 1 s from publish to close.
WAIT_S = 5.0


class Inbox:
    """Every message on one subject, decoded, waiting to be taken."""

    def __init__(self, decode: Callable[[bytes], object]) -> None:
        self._decode = decode
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    async def put(self, msg: Msg) -> None:
        await self._queue.put(self._decode(msg.data))

    async def next(self) -> object:
        return await asyncio.wait_for(self._queue.get(), WAIT_S)


async def listen(nc: NATS, subject: str, decode: Callable[[bytes], object]) -> Inbox:
    inbox = Inbox(decode)
    await nc.subscribe(subject, cb=inbox.put)  # nats-py wants a coroutine function
    await until_subscribed(nc)
    return inbox


@pytest.fixture
def nats_settings(
    make_settings: Callable[..., AuthSettings], sqlite_url: str, nats_url: str
) -> Callable[..., AuthSettings]:
    # What happens on NATS does not depend on the database: SQLite is enough here.
    return lambda **changes: make_settings(
        database_url=sqlite_url, nats=NatsSettings(url=nats_url), **changes
    )


@pytest.fixture
async def client(
    nats_settings: Callable[..., AuthSettings], make_client: MakeClient
) -> AsyncIterator[AsyncTestClient]:
    async with make_client(nats_settings()) as client:
        yield client


@pytest.fixture
async def revocations(nc: NATS) -> Inbox:
    return await listen(nc, subjects.auth_revoked_wildcard(), decode_revocation)


def claims_of(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


def revokes(revocation: Revocation, access_token: str) -> bool:
    claims = claims_of(access_token)
    return revocation.revokes(issued_at=claims["iat"], session_id=claims["sid"])


async def test_the_key_set_over_nats_is_the_one_over_http_and_verifies_its_tokens(
    client: AsyncTestClient, nc: NATS
) -> None:
    user_id, pair = await sign_up_and_log_in(client)

    over_nats = await fetch_jwks(nc)

    over_http = decode_jwks((await client.get("/.well-known/jwks.json")).content)
    assert over_nats == over_http and over_nats.keys
    verifier = KeySetVerifier(over_nats, issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE)
    assert verifier.verify(pair["access_token"]).user_id == user_id


async def test_logout_publishes_a_revocation_of_that_session_only(
    client: AsyncTestClient, revocations: Inbox
) -> None:
    user_id, laptop = await sign_up_and_log_in(client)
    phone = (await log_in(client)).json()

    await client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})

    revocation = await revocations.next()
    assert isinstance(revocation, Revocation)
    assert (revocation.user_id, revocation.reason) == (user_id, "logout")
    assert revokes(revocation, phone["access_token"])
    assert not revokes(revocation, laptop["access_token"])


async def test_a_reused_refresh_token_publishes_a_revocation_of_its_session(
    client: AsyncTestClient, revocations: Inbox
) -> None:
    user_id, pair = await sign_up_and_log_in(client)
    await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})

    await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})

    revocation = await revocations.next()
    assert isinstance(revocation, Revocation)
    assert (revocation.user_id, revocation.reason) == (user_id, "refresh_reused")
    assert revokes(revocation, pair["access_token"])


async def test_a_password_change_revokes_every_earlier_token_but_not_the_new_one(
    client: AsyncTestClient, revocations: Inbox
) -> None:
    user_id, laptop = await sign_up_and_log_in(client)
    phone = (await log_in(client)).json()

    response = await client.post(
        "/auth/password",
        json={"old_password": PASSWORD, "new_password": "another passphrase"},
        headers=bearer(laptop["access_token"]),
    )

    revocation = await revocations.next()
    assert isinstance(revocation, Revocation)
    assert (revocation.user_id, revocation.reason) == (user_id, "password_changed")
    assert revokes(revocation, laptop["access_token"]) and revokes(
        revocation, phone["access_token"]
    )
    assert not revokes(revocation, response.json()["access_token"])


async def test_an_admin_revoke_publishes_a_revocation_of_every_token(
    client: AsyncTestClient, revocations: Inbox
) -> None:
    user_id, pair = await sign_up_and_log_in(client)

    await client.post(
        "/auth/admin/revoke", json={"user_id": user_id}, headers={"X-Admin-Key": ADMIN_KEY}
    )

    revocation = await revocations.next()
    assert isinstance(revocation, Revocation)
    assert (revocation.user_id, revocation.reason) == (user_id, "admin")
    assert revokes(revocation, pair["access_token"])
    # Logging in again right away, even within the same second, is not caught by it.
    assert not revokes(revocation, (await log_in(client)).json()["access_token"])


async def test_a_gateway_follows_key_rotation_without_a_restart(
    nats_settings: Callable[..., AuthSettings],
    make_client: MakeClient,
    nc: NATS,
    tmp_path: Path,
) -> None:
    ring = tmp_path / "ring"
    old_kid = add_ring_key(ring, now=1_700_000_000)
    settings = nats_settings(keys_dir=ring, private_key_file=None, keys_reload_s=0.05)
    changes = await listen(nc, subjects.auth_jwks_changed(), decode_jwks)
    async with make_client(settings) as client:
        # The gateway: the set fetched at its start, refetched when a kid is unknown.
        gateway = KeySetVerifier(
            await fetch_jwks(nc),
            issuer=settings.issuer,
            audience=settings.audience,
            fetch=lambda: fetch_jwks(nc),
            min_refresh_interval_s=0,
        )
        _, before = await sign_up_and_log_in(client)
        assert gateway.verify(before["access_token"]).key_id == old_kid

        new_kid = add_ring_key(ring, now=1_800_000_000)
        assert {k.kid for k in _keys(await changes.next())} == {old_kid, new_kid}
        after = (await log_in(client)).json()["access_token"]
        assert (await gateway.averify(after)).key_id == new_kid

        retire_ring_key(ring, old_kid)
        retired = await changes.next()
        assert {k.kid for k in _keys(retired)} == {new_kid}
        gateway.replace(retired)  # what a gateway subscribed to auth.jwks.changed does
        with pytest.raises(Unauthorized, match="unknown key id"):
            await gateway.averify(before["access_token"])
        # The auth service itself no longer takes the retired key either.
        refused = await client.post(
            "/auth/password",
            json={"old_password": PASSWORD, "new_password": "another passphrase"},
            headers=bearer(before["access_token"]),
        )
        assert refused.status_code == 401


def _keys(document: object) -> list:
    assert isinstance(document, Jwks)
    return document.keys


async def test_jwks_requests_go_unanswered_once_the_service_stops(
    nats_settings: Callable[..., AuthSettings], make_client: MakeClient, nats_url: str
) -> None:
    async with make_client(nats_settings()):
        pass
    probe = await nats.connect(nats_url)
    try:
        with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
            await fetch_jwks(probe, timeout_s=0.5)
    finally:
        await probe.close()
