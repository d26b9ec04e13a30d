"""Starting and stopping: health, the ready line, and telling clients to reconnect on stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devstack.keys import KeyPair
from devstack.natsd import free_port
from services.ws_gateway.app import READY_LINE, STATIC_DIR
from services.ws_gateway.node import RESTART_REASON
from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import Sign, recv_json

ROOT = Path(__file__).resolve().parents[3]


async def test_healthz_answers_ok(start_gateway) -> None:
    gateway = await start_gateway()
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{gateway.http_url}/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_the_chat_page_is_served_at_the_root_and_other_files_by_name(start_gateway) -> None:
    gateway = await start_gateway()
    files = sorted(p.name for p in STATIC_DIR.iterdir() if p.is_file())
    async with httpx.AsyncClient(base_url=gateway.http_url) as client:
        root = await client.get("/")
        by_name = {name: await client.get(f"/{name}") for name in files}
        missing = await client.get("/no-such-file.js")
        health = await client.get("/healthz")

    assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
    assert root.content == (STATIC_DIR / "index.html").read_bytes()
    for name, response in by_name.items():
        assert (response.status_code, response.content) == (
            200,
            (STATIC_DIR / name).read_bytes(),
        ), name
    assert missing.status_code == 404
    assert health.json() == {"status": "ok"}  # the static files do not shadow the API


async def test_stopping_tells_every_client_to_reconnect_with_4000(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "ping"}')
        await recv_json(ws)
        await gateway.stop()
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        CloseCode.SERVER_RESTART,
        RESTART_REASON,
    )
    assert CloseCode(closed.value.rcvd.code).should_reconnect


def _start_process(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.ws_gateway"],
        cwd=ROOT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def _ready_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = ""
    async with asyncio.timeout(20):
        while READY_LINE not in line:
            line = await asyncio.to_thread(process.stdout.readline)
            if not line and process.poll() is not None:
                errors = process.stderr.read() if process.stderr else ""
                raise AssertionError(f"gateway exited {process.returncode}: {errors}")
    return line


async def test_process_prints_ready_and_exits_0_on_sigterm_after_closing_with_4000(
    nats_url: str, keys: KeyPair, sign: Sign, user_id: str
) -> None:
    port = free_port()
    process = _start_process(
        {
            "JWT_PUBLIC_KEY_FILE": str(keys.public_path),
            "NATS_URL": nats_url,
            "GATEWAY_PORT": str(port),
        }
    )
    try:
        line = await _ready_line(process)
        async with connect(
            f"ws://127.0.0.1:{port}/ws",
            compression=None,
            additional_headers={"Authorization": f"Bearer {sign(user_id)}"},
        ) as ws:
            await ws.send('{"type": "ping"}')
            assert await recv_json(ws) == {"type": "pong"}
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws, within=10)
        returncode = await asyncio.to_thread(process.wait, 20)
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    assert f"ws://127.0.0.1:{port}/ws" in line
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.SERVER_RESTART
    assert returncode == 0


def test_process_with_an_unreadable_public_key_exits_2_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "JWT_PUBLIC_KEY_FILE": str(tmp_path / "missing.pem")}
    result = subprocess.run(
        [sys.executable, "-m", "services.ws_gateway"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "JWT_PUBLIC_KEY_FILE" in result.stderr and "missing.pem" in result.stderr
