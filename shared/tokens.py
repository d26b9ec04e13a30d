"""Access tokens: Ed25519-signed JWTs (EdDSA), verified locally by whoever holds the public key.

The auth service signs (``services/auth/tokens.py``); the gateway verifies here. The algorithm is
pinned to EdDSA, so ``alg: none`` and HS256-with-the-public-key forgeries are refused, and the
claims ``exp``, ``iat``, ``iss``, ``aud`` and ``sub`` are required.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from shared.errors import Unauthorized
from shared.subjects import is_safe_token

__all__ = ["ALGORITHM", "AccessClaims", "TokenVerifier", "load_public_key"]

ALGORITHM = "EdDSA"


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    expires_at: float


class TokenVerifier:
    def __init__(
        self, public_key: Ed25519PublicKey, *, issuer: str, audience: str, leeway_s: float = 5.0
    ) -> None:
        self._key = public_key
        self._issuer = issuer
        self._audience = audience
        self._leeway_s = leeway_s

    def verify(self, token: str) -> AccessClaims:
        """Return the token's claims, or raise Unauthorized saying why it is refused."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        user_id = claims["sub"]
        if not is_safe_token(user_id):
            raise Unauthorized("invalid token: malformed subject")
        return AccessClaims(user_id=user_id, expires_at=float(claims["exp"]))
