"""Ed25519 signing keys for local runs and tests: made once, kept under the data directory."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

__all__ = ["KeyPair", "ensure_keypair"]


class KeyPair:
    def __init__(self, directory: Path) -> None:
        self.private_path = directory / "jwt_ed25519.pem"
        self.public_path = directory / "jwt_ed25519.pub.pem"


def ensure_keypair(directory: Path) -> KeyPair:
    """Write a new key pair into ``directory`` unless one is already there."""
    pair = KeyPair(directory)
    if pair.private_path.exists() and pair.public_path.exists():
        return pair
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pair.private_path.write_bytes(
        key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    pair.private_path.chmod(0o600)
    pair.public_path.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return pair
