"""The auth service's public signing keys: a JWKS document (RFC 7517) of Ed25519 keys (RFC 8037).

One document, three ways to get it: ``GET /.well-known/jwks.json``, a NATS request to
``auth.jwks`` (empty payload, the document as the reply), and a publish to ``auth.jwks.changed``
whenever the auth service's key ring changes. Every field has a default so a reader decodes a
set that also holds keys of other types (RSA, EC); the verifier skips what it cannot use.
"""

from __future__ import annotations

import msgspec

__all__ = ["Jwk", "Jwks", "decode_jwks", "encode_jwks"]


class Jwk(msgspec.Struct, kw_only=True):
    """One public key. Ours: ``kty: OKP``, ``crv: Ed25519``, ``use: sig``, ``alg: EdDSA``."""

    kty: str = ""
    crv: str = ""
    x: str = ""  # the 32-byte public key, base64url without padding
    kid: str = ""
    use: str | None = None
    alg: str | None = None


class Jwks(msgspec.Struct, kw_only=True):
    keys: list[Jwk] = msgspec.field(default_factory=list)


encode_jwks = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Jwks)


def decode_jwks(raw: bytes | str) -> Jwks:
    """Decode a JWKS document; raise ``msgspec.DecodeError`` if it is not one."""
    return _decoder.decode(raw)
