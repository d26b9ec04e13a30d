"""Ed25519 signing keys for local runs and tests: made once, kept under the data directory.

Two layouts:

- a key pair (``ensure_keypair``): ``jwt_ed25519.pem`` and ``jwt_ed25519.pub.pem``, for
  ``JWT_PRIVATE_KEY_FILE`` / ``JWT_PUBLIC_KEY_FILE``;
- a key ring (``ensure_key_ring``, ``add_ring_key``, ``retire_ring_key``): a directory of
  ``<kid>.pem`` private keys for ``JWT_KEYS_DIR``. Kids are ``YYYYmmddTHHMMSSZ-<hex>``, so they
  sort by age and the auth service signs with the newest; a retired key is renamed
  ``<kid>.retired``, which takes it out of the published key set.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

__all__ = [
    "KeyPair",
    "add_ring_key",
    "ensure_key_ring",
    "ensure_keypair",
    "retire_ring_key",
    "ring_key_ids",
]

_RING_SUFFIX = ".pem"
_RETIRED_SUFFIX = ".retired"


class KeyPair:
    def __init__(self, directory: Path) -> None:
        self.private_path = directory / "jwt_ed25519.pem"
        self.public_path = directory / "jwt_ed25519.pub.pem"


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    """Write the PEM readable by its owner only, from the first byte on."""
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)  # a file that existed keeps its mode otherwise
        out.write(pem)


def ensure_keypair(directory: Path) -> KeyPair:
    """Write a new key pair into ``directory`` unless one is already there."""
    pair = KeyPair(directory)
    if pair.private_path.exists() and pair.public_path.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    _write_private(pair.private_path, key)
    pair.public_path.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return pair


def ring_key_ids(directory: Path) -> list[str]:
    """The ring's published kids, oldest first (the last one signs)."""
    return sorted(
        path.name.removesuffix(_RING_SUFFIX) for path in directory.glob(f"*{_RING_SUFFIX}")
    )


def add_ring_key(directory: Path, *, now: float | None = None) -> str:
    """Add a new key to the ring; it sorts last, so it signs from the next reload on."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    kid = f"{stamp}-{secrets.token_hex(4)}"
    _write_private(directory / f"{kid}{_RING_SUFFIX}", Ed25519PrivateKey.generate())
    return kid


def ensure_key_ring(directory: Path) -> list[str]:
    """A ring with at least one key; return its kids."""
    if not ring_key_ids(directory):
        add_ring_key(directory)
    return ring_key_ids(directory)


def retire_ring_key(directory: Path, kid: str) -> Path:
    """Take ``kid`` out of the published set (kept on disk, renamed, for the record)."""
    path = directory / f"{kid}{_RING_SUFFIX}"
    retired = path.with_name(f"{kid}{_RETIRED_SUFFIX}")
    path.rename(retired)
    return retired
