"""A small test client: an account over HTTP, a WebSocket, and helpers to read a run to its end."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import websockets

from devstack.keys import ring_key_ids
from devstack.stack import Stack
from services.auth.keys import load_private_key
from shared.wire.events import TERMINAL_TYPES


@dataclass
class Account:
    email: str
    user_id: str
    token: str


async def new_account(auth_url: str) -> Account:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    password = "correct horse battery"
    async with httpx.AsyncClient(base_url=auth_url, timeout=60) as http:
        registered = await http.post("/auth/register", json={"email": email, "password": password})
        assert registered.status_code == 201, registered.text
        login = await http.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
    return Account(email, registered.json()["user_id"], login.json()["access_token"])


def ring_token(stack: Stack, user_id: str, ttl_s: int = 600) -> str:
    """An access token for ``user_id`` signed with the stack's own key ring, as the auth service
    signs them: hundreds of argon2 registrations would cost most of a test's time and prove
    nothing the auth tests do not."""
    kid = ring_key_ids(stack.key_ring_dir)[-1]
    key = load_private_key(stack.key_ring_dir / f"{kid}.pem")
    now = int(time.time())
    claims = {"sub": user_id, "sid": uuid.uuid4().hex, "iss": "agentwire-auth"}
    claims |= {"aud": "agentwire", "iat": now, "nbf": now, "exp": now + ttl_s}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def connect(ws_url: str, token: str | None, **kwargs: Any) -> websockets.asyncio.client.connect:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return websockets.connect(ws_url, additional_headers=headers, open_timeout=5, **kwargs)


async def recv_json(ws: websockets.ClientConnection, timeout_s: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout_s))


async def read_run(ws: websockets.ClientConnection, timeout_s: float = 20) -> list[dict[str, Any]]:
    """Every frame from now until (and including) the first terminal event."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if frame.get("type") in TERMINAL_TYPES:
                return frames


async def send(ws: websockets.ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))
