"""Real processes: many users at once see only their own events; a logout closes the socket.

Tokens for the crowd are signed with the stack's own key ring, exactly as the auth service signs
them (newest kid, EdDSA, the same claims): 150 argon2 registrations would cost the test most of
its time budget and prove nothing the other test here does not. The gateway fetches the keys
from the real auth service over NATS.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import nats
import websockets

from devstack.stack import Stack
from shared.bus import EventPublisher
from shared.errors import CloseCode
from shared.wire import events
from tests.integration.client import connect, recv_json, ring_token

USERS = 150
EVENTS_PER_USER = 30


def event_of(user_id: str, n: int) -> events.AgentThinking:
    data = events.AgentThinkingData(agent_id="iso", thought=f"{user_id}:{n}", step=n)
    return events.AgentThinking(run_id=f"run-{user_id}", thread_id="th", data=data)


async def read_events(ws: websockets.ClientConnection, count: int) -> list[dict]:
    got: list[dict] = []
    async with asyncio.timeout(30):
        while len(got) < count:
            frame = json.loads(await ws.recv())
            if "seq" in frame:
                got.append(frame)
    return got


async def test_150_users_with_30_events_each_concurrently_see_zero_foreign_events(
    stack: Stack,
) -> None:
    users = [f"iso-{uuid.uuid4().hex[:12]}" for _ in range(USERS)]
    sockets = [
        await websockets.connect(
            stack.ws_url,
            additional_headers={"Authorization": f"Bearer {ring_token(stack, u)}"},
            open_timeout=10,
            max_queue=None,
        )
        for u in users
    ]
    nc = await nats.connect(stack.operator_nats_url)
    try:
        for ws in sockets:  # every socket is served before anything is published
            await ws.send('{"type": "ping"}')
            assert await recv_json(ws) == {"type": "pong"}
        publisher = EventPublisher(nc.jetstream())
        readers = [asyncio.create_task(read_events(ws, EVENTS_PER_USER)) for ws in sockets]

        async def publish_all(user_id: str) -> None:
            for n in range(EVENTS_PER_USER):
                await publisher.publish(user_id, event_of(user_id, n))

        await asyncio.gather(*(publish_all(u) for u in users))
        received = await asyncio.gather(*readers)
    finally:
        await nc.drain()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    for user_id, frames in zip(users, received, strict=True):
        thoughts = [f["data"]["thought"] for f in frames]
        assert thoughts == [f"{user_id}:{n}" for n in range(EVENTS_PER_USER)]


async def test_logout_closes_the_sessions_socket_with_4403_and_the_token_cannot_return(
    stack: Stack,
) -> None:
    email, password = f"{uuid.uuid4().hex[:12]}@example.com", "correct horse battery"
    async with httpx.AsyncClient(base_url=stack.auth_url, timeout=30) as http:
        assert (
            await http.post("/auth/register", json={"email": email, "password": password})
        ).is_success
        pair = (await http.post("/auth/login", json={"email": email, "password": password})).json()
        async with connect(stack.ws_url, pair["access_token"]) as ws:
            await ws.send('{"type": "ping"}')
            assert await recv_json(ws) == {"type": "pong"}
            started = time.monotonic()
            logout = await http.post("/auth/logout", json={"refresh_token": pair["refresh_token"]})
            assert logout.status_code == 204
            try:
                await recv_json(ws, timeout_s=5)
                raise AssertionError("the socket was not closed")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == CloseCode.SESSION_REVOKED
            assert time.monotonic() - started < 1.5  # 1 s, plus the HTTP round trip
        async with connect(stack.ws_url, pair["access_token"]) as again:
            try:
                await recv_json(again, timeout_s=5)
                raise AssertionError("a revoked token opened a socket")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == CloseCode.SESSION_REVOKED
