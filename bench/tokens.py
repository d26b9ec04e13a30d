"""Access tokens for the bench's users, signed with the bench's own key pair.

The gateway is given the public key (``JWT_PUBLIC_KEY_FILE``) and seeds its key set with it
under the key's RFC 7638 thumbprint, so tokens carry that thumbprint as ``kid``. No auth
service runs: the bench mints exactly the claims a real token has (``sub``, ``iss``, ``aud``,
``iat``, ``nbf``, ``exp``, ``jti``).

The runs benchmark (``bench.runs``) does run the auth service, and signs with a key of the
stack's own key ring instead: ``kid`` is then the key's file name, as the auth service's is.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

__all__ = ["BenchTokens", "thumbprint"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(key: Ed25519PrivateKey) -> str:
    """RFC 7638 thumbprint of the key's public half (an OKP JWK: crv, kty, x)."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":")
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


class BenchTokens:
    def __init__(
        self,
        private_key_file: Path,
        *,
        ttl_s: int,
        issuer: str = "agentwire-auth",
        audience: str = "agentwire",
        kid: str | None = None,
    ) -> None:
        key = load_pem_private_key(private_key_file.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{private_key_file} is not an Ed25519 private key")
        self._key = key
        self._kid = kid or thumbprint(key)
        self._ttl_s = ttl_s
        self._issuer = issuer
        self._audience = audience

    def issue(self, user_id: str) -> str:
        now = int(time.time())
        claims = {
            "sub": user_id,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self._kid})
