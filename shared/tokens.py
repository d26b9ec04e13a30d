"""Access tokens: Ed25519-signed JWTs (EdDSA), verified locally by whoever holds the public keys.

The auth service signs (``services/auth/tokens.py``); gateways verify here, two ways:

- :class:`TokenVerifier`: one public key from a PEM file. Tokens need ``exp``, ``iat``, ``iss``,
  ``aud`` and ``sub``; a ``kid`` header is not looked at.
- :class:`KeySetVerifier`: the auth service's key set (JWKS, :mod:`shared.wire.keys`). The token's
  ``kid`` header picks the key, and ``nbf`` is required too. An unknown ``kid`` (a key that began
  signing after the set was fetched) makes :meth:`KeySetVerifier.averify` fetch the set again, at
  most once per ``min_refresh_interval_s`` however many forged ``kid`` values arrive; a key that
  left the set (retired) is refused from the moment the new set is installed.

Both pin the algorithm to EdDSA, so ``alg: none`` and HS256-keyed-with-the-public-key forgeries are
refused, and both refuse a ``sub`` that could not be a NATS subject token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from nats.aio.client import Client as NATS

from shared import bus, subjects
from shared.errors import Unauthorized
from shared.subjects import is_safe_token
from shared.wire.keys import Jwk, Jwks, decode_jwks

__all__ = [
    "ALGORITHM",
    "MAX_TOKEN_CHARS",
    "AccessClaims",
    "KeySetVerifier",
    "TokenVerifier",
    "fetch_jwks",
    "jwk_for",
    "load_public_key",
    "public_keys",
]

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
# Ours are ~400 characters; refusing a megabyte up front keeps base64 and JSON work bounded.
MAX_TOKEN_CHARS = 8192
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]
_REQUIRED_WITH_KEY_SET = [*_REQUIRED, "nbf"]


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified token says. Fields after ``expires_at`` have defaults for older callers."""

    user_id: str
    expires_at: float
    issued_at: float = 0.0
    session_id: str | None = None  # ``sid``: the refresh family the token came from
    key_id: str | None = None
    token_id: str | None = None


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk_for(kid: str, key: Ed25519PublicKey) -> Jwk:
    """The JWK (RFC 8037) of one Ed25519 verification key."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Jwk(kty="OKP", crv="Ed25519", x=_b64url(raw), kid=kid, use="sig", alg=ALGORITHM)


def public_keys(jwks: Jwks) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 signing keys of a set by ``kid``; keys of any other kind or use are skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in jwks.keys:
        usable = (
            jwk.kty == "OKP"
            and jwk.crv == "Ed25519"
            and jwk.use in (None, "sig")
            and jwk.alg in (None, ALGORITHM)
            and is_safe_token(jwk.kid)
            and jwk.kid not in keys
        )
        if not usable:
            continue
        try:
            keys[jwk.kid] = Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk.x))
        except (ValueError, binascii.Error):
            log.warning("skipping JWK %s: not a valid Ed25519 public key", jwk.kid)
    return keys


def _decode(
    token: str, key: Ed25519PublicKey, *, issuer: str, audience: str, leeway_s: float, require: list
) -> dict[str, Any]:
    """PyJWT's decode with our pins, its errors turned into Unauthorized."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            leeway=leeway_s,
            options={"require": require},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None


def _claims(payload: Mapping[str, Any], key_id: str | None) -> AccessClaims:
    user_id = payload["sub"]
    if not is_safe_token(user_id):
        raise Unauthorized("invalid token: malformed subject")
    session_id = payload.get("sid")
    token_id = payload.get("jti")
    return AccessClaims(
        user_id=user_id,
        expires_at=float(payload["exp"]),
        issued_at=float(payload["iat"]),
        session_id=session_id if is_safe_token(session_id) else None,
        key_id=key_id,
        token_id=token_id if isinstance(token_id, str) else None,
    )


def _check_size(token: object) -> str:
    if not isinstance(token, str) or not token:
        raise Unauthorized("missing token")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("invalid token: too long")
    return token


class TokenVerifier:
    """Verifies tokens against one public key (``JWT_PUBLIC_KEY_FILE``)."""

    def __init__(
        self, public_key: Ed25519PublicKey, *, issuer: str, audience: str, leeway_s: float = 5.0
    ) -> None:
        self._key = public_key
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s

    def verify(self, token: str) -> AccessClaims:
        """Return the token's claims, or raise Unauthorized saying why it is refused."""
        payload = _decode(
            _check_size(token),
            self._key,
            issuer=self._issuer,
            audience=self._audience,
            leeway_s=self._leeway_s,
            require=_REQUIRED,
        )
        return _claims(payload, None)


Fetch = Callable[[], Awaitable[Jwks]]


class KeySetVerifier:
    """Verifies tokens against a key set, picking the key by the token's ``kid``.

    :meth:`verify` uses the keys it holds and never does I/O. :meth:`averify` first fetches the
    set again (through ``fetch``) when the ``kid`` is unknown or the set is older than
    ``max_age_s``; fetches are single-flight and at most one per ``min_refresh_interval_s``, and
    a failed fetch keeps the keys already held. :meth:`replace` installs a set pushed to us.
    """

    def __init__(
        self,
        jwks: Jwks,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 5.0,
        fetch: Fetch | None = None,
        min_refresh_interval_s: float = 5.0,
        max_age_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s
        self._fetch = fetch
        self._min_refresh_interval_s = min_refresh_interval_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._last_fetch_at: float | None = None
        self._lock = asyncio.Lock()
        self.replace(jwks)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def replace(self, jwks: Jwks) -> None:
        """Use exactly the keys of ``jwks`` from now on: new ones verify, gone ones are refused."""
        self._keys = public_keys(jwks)
        self._loaded_at = self._clock()

    def verify(self, token: str) -> AccessClaims:
        """Return the token's claims, or raise Unauthorized saying why it is refused."""
        key_id = self._key_id(_check_size(token))
        key = self._keys.get(key_id)
        if key is None:
            raise Unauthorized("invalid token: unknown key id")
        payload = _decode(
            token,
            key,
            issuer=self._issuer,
            audience=self._audience,
            leeway_s=self._leeway_s,
            require=_REQUIRED_WITH_KEY_SET,
        )
        return _claims(payload, key_id)

    async def averify(self, token: str) -> AccessClaims:
        """Like :meth:`verify`, refreshing the set first if the ``kid`` is unknown or it is old."""
        key_id = self._key_id(_check_size(token))
        if key_id not in self._keys or self._clock() - self._loaded_at > self._max_age_s:
            await self.refresh()
        return self.verify(token)

    async def refresh(self) -> bool:
        """Fetch and install the set unless one was fetched too recently; True if installed."""
        if self._fetch is None:
            return False
        async with self._lock:
            now = self._clock()
            if (
                self._last_fetch_at is not None
                and now - self._last_fetch_at < self._min_refresh_interval_s
            ):
                return False
            self._last_fetch_at = now
            try:
                jwks = await self._fetch()
            except Exception as exc:
                # Whatever went wrong (no auth service, timeout, a bad document), the keys we
                # hold are still the best we have: verifying goes on with them.
                log.warning("could not refresh the auth key set: %r", exc)
                return False
            self.replace(jwks)
            return True

    @staticmethod
    def _key_id(token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("invalid token: algorithm not allowed")
        key_id = header.get("kid")
        if not is_safe_token(key_id):
            raise Unauthorized("invalid token: missing or malformed key id")
        return key_id


async def fetch_jwks(nc: NATS, *, timeout_s: float = 2.0) -> Jwks:
    """Ask the auth service for its key set over NATS (``auth.jwks``).

    Raises nats' ``NoRespondersError`` or ``TimeoutError`` when no auth service answers, and
    ``msgspec.DecodeError`` when the reply is not a key set.
    """
    reply = await bus.request(nc, subjects.auth_jwks(), b"", timeout_s=timeout_s)
    return decode_jwks(reply.data)
