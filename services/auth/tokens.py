"""Signing access tokens: the counterpart of :mod:`shared.tokens`, which verifies them.

Tokens are Ed25519-signed JWTs (EdDSA) so only this service holds a secret; every verifier needs
just the public key. The claims are exactly what ``TokenVerifier`` requires (``sub``, ``iss``,
``aud``, ``iat``, ``exp``) plus ``nbf`` and a random ``jti`` so a token can be revoked by id later.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared.tokens import ALGORITHM

__all__ = ["IssuedToken", "TokenIssuer", "load_private_key"]


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM Ed25519 key; raise OSError or ValueError if it is not one."""
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int


class TokenIssuer:
    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        issuer: str,
        audience: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = private_key
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = ttl_s
        self._clock = clock

    def issue(self, user_id: str) -> IssuedToken:
        now = int(self._clock())
        claims = {
            "sub": user_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl_s,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token=token, expires_in=self._ttl_s)
