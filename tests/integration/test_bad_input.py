"""Hostile and broken input at the real edge: clear errors, and the socket and service stay up."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from devstack.keys import ring_key_ids
from devstack.stack import Stack
from tests.integration.client import connect, new_account, read_run, recv_json, send

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"content": "no type"}', "invalid_frame"),
        ('{"type": "launch_missiles"}', "unknown_type"),
        ('{"type": "message"}', "invalid_frame"),
        ('{"type": "message", "content": 42}', "invalid_frame"),
        ('{"type": "message", "content": "hi", "thread_id": "a.>"}', "invalid_id"),
        ('{"type": "message", "content": "hi", "thread_id": "*"}', "invalid_id"),
        ('{"type": "message", "content": "' + "x" * 70_000 + '"}', "frame_too_large"),
    ],
)
async def test_bad_frame_gets_an_error_frame_and_the_socket_stays_usable(
    stack: Stack, raw: str, code: str
) -> None:
    account = await new_account(stack.auth_url)
    async with connect(stack.ws_url, account.token) as ws:
        await ws.send(raw)
        error = await recv_json(ws)
        assert error["type"] == "error"
        assert error["data"]["code"] == code
        assert error["data"]["message"]
        await send(ws, {"type": "ping"})
        assert (await recv_json(ws))["type"] == "pong"


async def test_someone_elses_thread_is_refused_and_their_thread_untouched(stack: Stack) -> None:
    owner, intruder = await new_account(stack.auth_url), await new_account(stack.auth_url)
    async with connect(stack.ws_url, owner.token) as ws:
        await send(ws, {"type": "message", "content": "memory over 24h"})
        thread_id = (await recv_json(ws))["thread_id"]
        await read_run(ws)
    async with connect(stack.ws_url, intruder.token) as ws:
        await send(ws, {"type": "message", "content": "hello", "thread_id": thread_id})
        frames = await read_run(ws)
    async with connect(stack.ws_url, owner.token) as ws:
        await send(ws, {"type": "list_runs", "thread_id": thread_id})
        runs = await recv_json(ws)
    # Stored in the queue (the gateway cannot know whose thread it is), then ended by the agent.
    assert [f["type"] for f in frames] == ["run_accepted", "agent_started", "agent_failed"]
    assert frames[-1]["data"]["code"] == "thread_not_found"
    assert len(runs["runs"]) == 1  # the owner's thread holds only the owner's run


async def _close_of(ws_url: str, headers: dict[str, str]) -> tuple[int | None, str | None]:
    async with websockets.connect(ws_url, additional_headers=headers, open_timeout=5) as ws:
        try:
            await ws.recv()
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code, closed.rcvd.reason
    return None, None


def _forged(sub: str, **overrides: object) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iss": "agentwire-auth", "aud": "agentwire", "iat": now, "exp": now + 60}
    claims.update(overrides)
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer " + _forged("someone")},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["missing", "garbage", "forged-signature", "wrong-scheme"],
)
async def test_unauthenticated_sockets_are_closed_with_4401(
    stack: Stack, headers: dict[str, str]
) -> None:
    code, reason = await _close_of(stack.ws_url, headers)
    assert code == 4401
    assert reason


async def test_expired_token_is_refused_with_a_reason(stack: Stack) -> None:
    # Signed with the auth service's real signing key: only the expiry is wrong.
    kid = ring_key_ids(stack.key_ring_dir)[-1]
    private = load_pem_private_key((stack.key_ring_dir / f"{kid}.pem").read_bytes(), password=None)
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": "u1",
            "iss": "agentwire-auth",
            "aud": "agentwire",
            "iat": now - 600,
            "nbf": now - 600,
            "exp": now - 300,
        },
        private,
        algorithm="EdDSA",
        headers={"kid": kid},
    )
    code, reason = await _close_of(stack.ws_url, {"Authorization": f"Bearer {token}"})
    assert code == 4401 and reason is not None and "expired" in reason


async def test_alg_none_token_is_refused(stack: Stack) -> None:
    header = {"alg": "none", "typ": "JWT"}
    now = int(time.time())
    body = {"sub": "u1", "iss": "agentwire-auth", "aud": "agentwire", "iat": now, "exp": now + 60}

    def b64(obj: dict[str, object]) -> str:
        import base64

        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    code, _ = await _close_of(stack.ws_url, {"Authorization": f"Bearer {b64(header)}.{b64(body)}."})
    assert code == 4401
