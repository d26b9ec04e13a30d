"""The auth service as a real process: key rotation without restarts, and refusals at start-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest

from devstack.keys import add_ring_key, retire_ring_key
from devstack.natsd import free_port
from devstack.processes import ServiceProcess
from shared import subjects
from shared.bus import until_subscribed
from shared.errors import Unauthorized
from shared.tokens import KeySetVerifier, fetch_jwks
from shared.wire.keys import Jwks, decode_jwks

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


class Auth:
    def __init__(self, process: ServiceProcess, port: int, keys: Path) -> None:
        self.process, self.url, self.keys = process, f"http://127.0.0.1:{port}", keys


@pytest.fixture
def auth(nats_url: str, tmp_path: Path) -> Iterator[Auth]:
    keys, port = tmp_path / "ring", free_port()
    add_ring_key(keys, now=1_700_000_000)
    env = {
        "NATS_URL": nats_url,
        "AUTH_PORT": str(port),
        "JWT_KEYS_DIR": str(keys),
        "JWT_KEYS_RELOAD_S": "0.1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
    }
    log = tmp_path / "auth.log"

    def sink(_: str, line: str) -> None:
        with open(log, "a") as out:
            out.write(line + "\n")

    process = ServiceProcess(name="auth", env=env, sink=sink).start()
    try:
        process.wait_ready(60)
        yield Auth(process, port, keys)
    finally:
        process.stop()


async def log_in(auth: Auth, email: str) -> str:
    async with httpx.AsyncClient(base_url=auth.url, timeout=30) as http:
        await http.post("/auth/register", json={"email": email, "password": PASSWORD})
        response = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return response.json()["access_token"]


async def test_a_running_gateway_follows_a_key_rotation_of_a_running_auth_service(
    auth: Auth, nats_url: str
) -> None:
    nc = await nats.connect(nats_url)
    try:
        changes: asyncio.Queue[Jwks] = asyncio.Queue()

        async def on_change(msg: nats.aio.msg.Msg) -> None:
            await changes.put(decode_jwks(msg.data))

        await nc.subscribe(subjects.auth_jwks_changed(), cb=on_change)
        await until_subscribed(nc)
        gateway = KeySetVerifier(
            await fetch_jwks(nc),
            issuer="agentwire-auth",
            audience="agentwire",
            fetch=lambda: fetch_jwks(nc),
            min_refresh_interval_s=0,
        )
        before = await log_in(auth, "before@example.com")
        first_kid = gateway.verify(before).key_id

        new_kid = add_ring_key(auth.keys, now=1_800_000_000)
        await asyncio.wait_for(changes.get(), 10)
        after = await log_in(auth, "after@example.com")
        assert (await gateway.averify(after)).key_id == new_kid

        assert first_kid is not None
        retire_ring_key(auth.keys, first_kid)
        gateway.replace(await asyncio.wait_for(changes.get(), 10))
        with pytest.raises(Unauthorized):
            await gateway.averify(before)
        assert auth.process.alive()
    finally:
        await nc.drain()


def run_auth(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "ADMIN_"))}
    defaults = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "services.auth"],
        env=base | defaults | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_any_signing_key_the_service_refuses_to_start(tmp_path: Path) -> None:
    result = run_auth({}, tmp_path)

    assert result.returncode == 2
    assert "JWT_KEYS_DIR or JWT_PRIVATE_KEY_FILE" in result.stderr


def test_a_short_admin_key_is_refused_at_start_up_and_never_printed(tmp_path: Path) -> None:
    add_ring_key(tmp_path / "ring")

    result = run_auth({"JWT_KEYS_DIR": str(tmp_path / "ring"), "ADMIN_API_KEY": "s3cret"}, tmp_path)

    assert result.returncode == 2
    assert "ADMIN_API_KEY" in result.stderr and "s3cret" not in result.stderr + result.stdout


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start_up(tmp_path: Path) -> None:
    add_ring_key(tmp_path / "ring")

    result = run_auth(
        {"JWT_KEYS_DIR": str(tmp_path / "ring"), "TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"},
        tmp_path,
    )

    assert result.returncode == 2
    assert "TRUSTED_PROXIES" in result.stderr and "'proxy.internal'" in result.stderr


def test_an_unmigrated_database_is_refused_when_migrating_at_start_up_is_off(
    tmp_path: Path, nats_url: str
) -> None:
    add_ring_key(tmp_path / "ring")
    env = {
        "JWT_KEYS_DIR": str(tmp_path / "ring"),
        "AUTH_MIGRATE_ON_START": "false",
        "AUTH_PORT": str(free_port()),
        "NATS_URL": nats_url,
    }

    result = run_auth(env, tmp_path)

    assert result.returncode != 0
    assert "dev migrate" in result.stdout + result.stderr
