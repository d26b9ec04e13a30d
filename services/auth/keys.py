"""The signing key ring: which Ed25519 key signs, and which public keys are published as JWKS.

Two sources, one shape (a :class:`KeyRing`):

- ``JWT_KEYS_DIR``: a directory of unencrypted PEM Ed25519 private keys named ``<kid>.pem``.
  Every ``*.pem`` key is published; the one whose ``kid`` sorts last signs, so kids must sort by
  age (``devstack.keys.add_ring_key`` names them ``YYYYmmddTHHMMSSZ-<hex>``). To rotate, add a
  key; to retire one, delete it or rename it away from ``.pem`` (e.g. ``<kid>.retired``). The
  directory is read again every ``JWT_KEYS_RELOAD_S``, so neither needs a restart.
- ``JWT_PRIVATE_KEY_FILE``: one key, a ring of one. Its ``kid`` is the key's RFC 7638 thumbprint,
  so it stays the same across restarts and across processes reading the same file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from shared.subjects import is_safe_token
from shared.tokens import jwk_for
from shared.wire.keys import Jwks

__all__ = [
    "KEY_SUFFIX",
    "KeyRing",
    "KeyRingSource",
    "SigningKey",
    "load_key_dir",
    "load_key_file",
    "load_private_key",
    "thumbprint_kid",
]

log = logging.getLogger(__name__)

KEY_SUFFIX = ".pem"


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM Ed25519 key; raise OSError or ValueError if it is not one."""
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Published keys in ``kid`` order; the last one signs."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")

    @property
    def signing(self) -> SigningKey:
        return self.keys[-1]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)

    def jwks(self) -> Jwks:
        return Jwks(keys=[jwk_for(key.kid, key.private_key.public_key()) for key in self.keys])


def thumbprint_kid(key: Ed25519PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url): a stable id derived from the key."""
    jwk = jwk_for("", key.public_key())
    # RFC 7638: the required members only, in lexicographic order, no whitespace.
    canonical = json.dumps({"crv": jwk.crv, "kty": jwk.kty, "x": jwk.x}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def load_key_file(path: Path) -> KeyRing:
    """A ring of the one key in ``path``; raise OSError or ValueError if it is not one."""
    key = load_private_key(path)
    return KeyRing((SigningKey(thumbprint_kid(key), key),))


def load_key_dir(directory: Path) -> KeyRing:
    """A ring of every ``<kid>.pem`` in ``directory``; raise OSError or ValueError on any bad one.

    One unreadable file fails the whole load: signing on with part of a ring the operator meant
    differently is worse than keeping the ring already in use (see :class:`KeyRingSource`).
    """
    keys = []
    for path in sorted(directory.glob(f"*{KEY_SUFFIX}")):
        kid = path.name.removesuffix(KEY_SUFFIX)
        if not is_safe_token(kid):
            raise ValueError(f"{path.name}: a key id must be 1-64 characters of A-Z a-z 0-9 _ -")
        keys.append(SigningKey(kid, load_private_key(path)))
    if not keys:
        raise ValueError(f"{directory} holds no *{KEY_SUFFIX} key")
    return KeyRing(tuple(sorted(keys, key=lambda key: key.kid)))


class KeyRingSource:
    """The ring in use, and where it came from, so it can be read again while serving."""

    def __init__(self, *, keys_dir: Path | None = None, key_file: Path | None = None) -> None:
        if (keys_dir is None) == (key_file is None):
            raise ValueError("give exactly one of keys_dir and key_file")
        self._keys_dir = keys_dir
        self._key_file = key_file
        self.ring = self._load()

    @property
    def reloadable(self) -> bool:
        return self._keys_dir is not None

    def signing_key(self) -> SigningKey:
        return self.ring.signing

    def reload(self) -> bool:
        """Read the keys again; return True if the ring changed. A bad read keeps the old ring."""
        try:
            ring = self._load()
        except (OSError, ValueError) as exc:
            log.error(
                "key ring not reloaded, still signing with %s: %s", self.ring.signing.kid, exc
            )
            return False
        if ring.jwks() == self.ring.jwks():  # by key material too: a file may be replaced
            return False
        log.info("key ring now %s; signing with %s", ", ".join(ring.key_ids), ring.signing.kid)
        self.ring = ring
        return True

    def _load(self) -> KeyRing:
        if self._keys_dir is not None:
            return load_key_dir(self._keys_dir)
        assert self._key_file is not None
        return load_key_file(self._key_file)
