"""Signing access tokens: the counterpart of :mod:`shared.tokens`, which verifies them.

Tokens are Ed25519-signed JWTs (EdDSA) so only this service holds a secret; every verifier needs
just the public keys. The header names the signing key (``kid``); the claims are ``sub``, ``iss``,
``aud``, ``iat``, ``nbf``, ``exp``, a random ``jti``, and ``sid``: the refresh-token family (the
session) the token belongs to, which a logout revokes (``shared/wire/revocation.py``).

``iat`` never precedes the user's ``tokens_valid_from``: after a user-wide revocation at second
``t`` (``not_before = t``) a token issued within that same second still carries ``iat = t`` and
is not caught by it. The token may then start up to a second ahead of the clock, well inside
every verifier's leeway.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from services.auth.keys import SigningKey
from shared.tokens import ALGORITHM

__all__ = ["IssuedToken", "TokenIssuer"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenIssuer:
    def __init__(
        self,
        signing_key: Callable[[], SigningKey],
        *,
        issuer: str,
        audience: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signing_key = signing_key  # asked per token, so a reloaded ring signs at once
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = ttl_s
        self._clock = clock

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

    def issue(self, user_id: str, *, session_id: str, valid_from: int = 0) -> IssuedToken:
        issued_at = max(int(self._clock()), valid_from)
        claims = {
            "sub": user_id,
            "sid": session_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + self._ttl_s,
            "jti": uuid.uuid4().hex,
        }
        key = self._signing_key()
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return IssuedToken(token=token, expires_in=self._ttl_s)
