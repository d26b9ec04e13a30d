"""What ``docker compose up`` needs beside docker-compose.yml: the NATS config with one user per
service (the same permission table ``./dev up`` uses) and each service's credentials."""

from __future__ import annotations

from pathlib import Path

from devstack.keys import ensure_keypair
from devstack.natsauth import PERMISSIONS, authorization_block, ensure_credentials

__all__ = ["write_compose_files"]


def write_compose_files(data_dir: Path) -> Path:
    """Write ``<data>/compose/``: nats.conf and one ``<service>.env`` per service."""
    out = data_dir / "compose"
    passwords = ensure_credentials(out)
    ensure_keypair(data_dir / "keys")
    (out / "nats.conf").write_text(
        'listen: "0.0.0.0:4222"\nhttp: "0.0.0.0:8222"\n'
        'jetstream { store_dir: "/data" }\n' + authorization_block(passwords)
    )
    for service in PERMISSIONS:
        env = out / f"{service}.env"
        env.touch(mode=0o600)
        env.write_text(f"NATS_USER={service}\nNATS_PASSWORD={passwords[service]}\n")
    return out
