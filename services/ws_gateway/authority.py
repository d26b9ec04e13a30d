"""Who a token belongs to, and whether it still counts: keys over NATS, revocations over NATS.

The auth service owns the keys and the sessions; the gateway only listens:

- the key set (JWKS) is fetched once at start-up (``auth.jwks``), replaced whenever the auth
  service announces a change (``auth.jwks.changed``), and fetched again by the
  :class:`~shared.tokens.KeySetVerifier` when a token names a kid it does not know yet (a key
  that began signing since) or its copy has grown old. A retired key leaves with the next set.
- revocations (``auth.revoked.*``, one subscription for every user) are remembered in a
  :class:`~services.ws_gateway.revocations.RevocationList` and handed to ``on_revoked`` so the
  node closes the sockets they cover. At start-up and after each NATS reconnect the gateway also
  reads those the ``REVOCATIONS`` stream still holds (:meth:`Authority.catch_up`): one published
  while it was not listening counts all the same.

``JWT_PUBLIC_KEY_FILE``, when set, seeds the key set with that one key under its RFC 7638
thumbprint (the kid the auth service gives a single ``JWT_PRIVATE_KEY_FILE`` key), so a gateway
verifies tokens even before the auth service first answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from services.ws_gateway.revocations import RevocationList
from services.ws_gateway.settings import GatewaySettings
from shared import subjects
from shared.errors import ErrorCode, InvalidId, Unauthorized
from shared.tokens import AccessClaims, KeySetVerifier, fetch_jwks, jwk_for, load_public_key
from shared.wire.keys import Jwks, decode_jwks
from shared.wire.revocation import Revocation, decode_revocation

__all__ = ["Authority", "TokenRevoked", "seed_key_set"]

log = logging.getLogger(__name__)

_FIRST_FETCH_TIMEOUT_S = 2.0


class TokenRevoked(Unauthorized):
    """A valid token whose session was revoked: closes with SESSION_REVOKED, not UNAUTHORIZED."""

    code = ErrorCode.SESSION_REVOKED


def seed_key_set(settings: GatewaySettings) -> Jwks:
    """The key set to start from: ``JWT_PUBLIC_KEY_FILE``'s key, or none (raises OSError or
    ValueError when the file is set but unreadable)."""
    if settings.jwt_public_key_file is None:
        return Jwks()
    jwk = jwk_for("", load_public_key(settings.jwt_public_key_file))
    canonical = json.dumps({"crv": jwk.crv, "kty": jwk.kty, "x": jwk.x}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    jwk.kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return Jwks(keys=[jwk])


class Authority:
    def __init__(self, settings: GatewaySettings, on_revoked: Callable[[Revocation], None]) -> None:
        self._settings = settings
        self._on_revoked = on_revoked
        self.revocations = RevocationList(settings.revocation_memory_s)
        self._seed = seed_key_set(settings)
        self._verifier = KeySetVerifier(
            self._seed, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )

    @property
    def key_ids(self) -> frozenset[str]:
        return self._verifier.key_ids

    async def start(self, nc: NATS) -> None:
        """Subscribe first, then fetch: a change announced meanwhile is not lost."""
        await nc.subscribe(subjects.auth_jwks_changed(), cb=self._on_jwks_changed)
        await nc.subscribe(subjects.auth_revoked_wildcard(), cb=self._on_revocation)
        await self.catch_up(nc)  # after the subscription: nothing falls between the two
        self._verifier = KeySetVerifier(
            await _first_key_set(nc, self._seed),
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            fetch=lambda: fetch_jwks(nc),
            min_refresh_interval_s=self._settings.jwks_min_refresh_interval_s,
            max_age_s=self._settings.jwks_max_age_s,
        )

    async def verify(self, token: str | None) -> AccessClaims:
        """The token's claims; Unauthorized (or TokenRevoked) saying why it is refused."""
        if token is None:
            raise Unauthorized("missing token")
        claims = await self._verifier.averify(token)
        revocation = self.revocations.covering(claims)
        if revocation is not None:
            raise TokenRevoked(f"session revoked: {revocation.reason}"[:80])
        return claims

    async def _on_jwks_changed(self, msg: Msg) -> None:
        try:
            jwks = decode_jwks(msg.data)
        except msgspec.DecodeError as exc:
            log.warning("ignoring an unreadable key set on %s: %s", msg.subject, exc)
            return
        self._verifier.replace(jwks)
        log.info("auth key set replaced: kids %s", sorted(self._verifier.key_ids))

    async def catch_up(self, nc: NATS) -> None:
        """Read every revocation the ``REVOCATIONS`` stream still holds.

        Run at start-up and after each NATS reconnect: a revocation published while this gateway
        was not listening (not started yet, or cut off) still closes the sockets it covers and
        refuses its tokens. Those heard live already are read again, to no effect.
        """
        js, seq, read = nc.jetstream(), 1, 0
        stream, wildcard = subjects.REVOCATIONS_STREAM, subjects.auth_revoked_wildcard()
        try:
            while True:
                stored = await js.get_msg(stream, seq, wildcard, direct=True, next=True)
                self._apply(stored.subject or "", stored.data or b"", live=False)
                seq, read = stored.seq + 1, read + 1
        except nats.js.errors.NotFoundError:
            pass  # read to the end
        except nats.errors.NoRespondersError:
            pass  # no stream yet: the auth service has not started, nothing was revoked
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("could not read the stored revocations (%r) after %d", exc, read)
            return
        log.info("read %d stored revocations", read)

    async def _on_revocation(self, msg: Msg) -> None:
        self._apply(msg.subject, msg.data, live=True)

    def _apply(self, subject: str, data: bytes, *, live: bool) -> None:
        try:
            revocation = decode_revocation(data)
            subjects.check_token(revocation.user_id, "user id")
        except (msgspec.DecodeError, InvalidId) as exc:
            log.warning("ignoring an unreadable revocation on %s: %s", subject, exc)
            return
        if subject != subjects.auth_revoked(revocation.user_id):
            log.warning("ignoring a revocation for another user on %s", subject)
            return
        self.revocations.add(revocation)
        if live:
            log.info("user %s revoked (%s)", revocation.user_id, revocation.reason)
        self._on_revoked(revocation)


async def _first_key_set(nc: NATS, seed: Jwks) -> Jwks:
    try:
        return await fetch_jwks(nc, timeout_s=_FIRST_FETCH_TIMEOUT_S)
    except (nats.errors.Error, TimeoutError, msgspec.DecodeError) as exc:
        # No auth service yet: start with what we have; the first token fetches again.
        log.warning("no auth key set at start-up (%r); will fetch on the first token", exc)
        return seed
