"""The gateway's own WebSocket edge, on the wire: paths, framing, UTF-8, closing handshakes."""

from __future__ import annotations

import asyncio
import os
import struct

import httpx
import pytest
from nats.aio.client import Client as NATS
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import (
    Sign,
    eventually,
    publish,
    raw_socket,
    recv_json,
)


def _client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 §5.3), payload under 126 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", (0x80 if fin else 0) | opcode, 0x80 | len(payload)) + mask + masked


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One server frame: (opcode, payload)."""
    head = await asyncio.wait_for(reader.readexactly(2), 10)
    size = head[1] & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return head[0] & 0x0F, await reader.readexactly(size)


async def test_a_websocket_anywhere_but_ws_is_refused_with_404(start_gateway) -> None:
    gateway = await start_gateway()
    url = gateway.url.replace("/ws", "/elsewhere")
    try:
        async with connect(url, compression=None):
            raise AssertionError("a socket opened on /elsewhere")
    except InvalidStatus as refused:
        assert refused.response.status_code == 404


async def test_plain_http_is_still_served_beside_the_websocket(start_gateway) -> None:
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.http_url) as http:
        health = await http.get("/healthz")
        page = await http.get("/")

    assert health.json() == {"status": "ok"}
    assert page.status_code == 200 and "<html" in page.text.lower()


async def test_a_fragmented_message_is_put_back_together(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    reader, writer = await raw_socket(gateway, sign(user_id))
    writer.write(_client_frame(0x1, b'{"type": ', fin=False))
    writer.write(_client_frame(0x0, b'"pi', fin=False))
    writer.write(_client_frame(0x0, b'ng"}'))

    assert await _read_frame(reader) == (0x1, b'{"type":"pong"}')
    writer.close()


async def test_a_text_frame_that_is_not_utf8_is_closed_with_1007(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    reader, writer = await raw_socket(gateway, sign(user_id))
    writer.write(_client_frame(0x1, b'{"type": "\xff\xfe"}'))

    opcode, payload = await _read_frame(reader)
    assert opcode == 0x8
    assert int.from_bytes(payload[:2], "big") == CloseCode.INVALID_DATA
    assert await asyncio.wait_for(reader.read(), 10) == b""  # and the server hangs up
    writer.close()


async def test_a_refused_socket_completes_its_closing_handshake_at_once(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id, ttl_s=-60)) as ws:
        try:
            await recv_json(ws)
        except ConnectionClosed:
            pass
        async with asyncio.timeout(2):  # the server read our close answer: not its 10 s timeout
            await ws.wait_closed()

    assert ws.close_code == CloseCode.UNAUTHORIZED
    hub = gateway.server.node.hub
    assert len(hub) == 0


async def test_frames_sent_right_after_the_handshake_are_answered_in_order(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        for _ in range(5):  # while the gateway is still checking the token
            await ws.send('{"type": "ping"}')
        await ws.send("not json")
        await ws.send('{"type": "ping"}')
        frames = [await recv_json(ws) for _ in range(7)]

    assert [f["type"] for f in frames] == ["pong"] * 5 + ["error", "pong"]


async def test_a_burst_of_events_reaches_every_socket_of_the_user_in_order(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    token = sign(user_id)
    async with await gateway.connect(token) as one, await gateway.connect(token) as two:
        for ws in (one, two):
            await ws.send('{"type": "ping"}')
            assert await recv_json(ws) == {"type": "pong"}
        stored = await publish(nc, user_id, *[f"step {n}" for n in range(200)])
        got = [[(await recv_json(ws))["seq"] for _ in stored] for ws in (one, two)]

    assert got == [stored, stored]
    await eventually(lambda: len(gateway.server.node.hub) == 0)


@pytest.mark.parametrize("live_subscription", ["all", "per_user"])
async def test_an_event_stored_the_moment_the_socket_opens_reaches_it(
    start_gateway, nc: NATS, sign: Sign, live_subscription: str
) -> None:
    """The 101 goes out only once the socket is served: no window where events slip past it."""
    gateway = await start_gateway(LIVE_SUBSCRIPTION=live_subscription)
    for n in range(10):  # each time a new user, so each time the user's first socket
        async with await gateway.connect(sign(f"opener-{live_subscription}-{n}")) as ws:
            [seq] = await publish(nc, f"opener-{live_subscription}-{n}", "right away")

            assert (await recv_json(ws))["seq"] == seq
