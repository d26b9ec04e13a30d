"""The auth service on NATS: it answers ``auth.jwks`` and publishes revocations and key changes.

Revocations are core-NATS publishes, which gateways hear within a second; nats-py holds them
while NATS is away and sends them once back. The ``REVOCATIONS`` stream (made at start-up, see
``app.py``) also stores each one for an access token's lifetime, so a gateway that starts, or
comes back from an outage, reads what it missed. A failed publish is logged, never turned into
an error for the user who logged out: the refresh families are revoked in the database whatever
happens here, and an access token outlives its revocation by at most its lifetime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.bus import until_subscribed
from shared.wire.keys import Jwks, encode_jwks
from shared.wire.revocation import Revocation, encode_revocation

__all__ = ["Announcer", "AuthBus", "Notifier", "UnpublishedNotifier"]

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Where the service announces what other services must act on."""

    async def revoked(self, revocation: Revocation) -> None: ...

    async def keys_changed(self, jwks: Jwks) -> None: ...


class UnpublishedNotifier:
    """No NATS configured (tests, one-off tools): say in the log what was not announced."""

    async def revoked(self, revocation: Revocation) -> None:
        log.warning(
            "revocation of user %s (%s) not published: no NATS",
            revocation.user_id,
            revocation.reason,
        )

    async def keys_changed(self, jwks: Jwks) -> None:
        log.warning("key ring change not published: no NATS")


class Announcer:
    """The notifier the service is built with; it publishes once a bus is attached.

    The app (and so the service) is made before any event loop runs, the NATS connection only
    in the lifespan: this is the seam between the two.
    """

    def __init__(self) -> None:
        self._target: Notifier = UnpublishedNotifier()

    def attach(self, target: Notifier) -> None:
        self._target = target

    def detach(self) -> None:
        self._target = UnpublishedNotifier()

    async def revoked(self, revocation: Revocation) -> None:
        await self._target.revoked(revocation)

    async def keys_changed(self, jwks: Jwks) -> None:
        await self._target.keys_changed(jwks)


class AuthBus:
    def __init__(self, nc: NATS, jwks: Callable[[], Jwks]) -> None:
        self._nc = nc
        self._jwks = jwks  # asked per request, so a reloaded ring is served at once
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        """Answer JWKS requests (queue group: one auth process answers each) from now on."""
        self._subscription = await self._nc.subscribe(
            subjects.auth_jwks(), queue=subjects.AUTH_QUEUE, cb=self._answer_jwks
        )
        await until_subscribed(self._nc)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _answer_jwks(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(encode_jwks(self._jwks()))

    async def revoked(self, revocation: Revocation) -> None:
        subject = subjects.auth_revoked(revocation.user_id)
        await self._publish(subject, encode_revocation(revocation), what=revocation.reason)

    async def keys_changed(self, jwks: Jwks) -> None:
        await self._publish(subjects.auth_jwks_changed(), encode_jwks(jwks), what="key change")

    async def _publish(self, subject: str, payload: bytes, *, what: str) -> None:
        try:
            # While reconnecting nats-py buffers the message and sends it once back.
            await self._nc.publish(subject, payload)
        except Exception as exc:
            log.error("could not publish %s on %s: %r", what, subject, exc)
