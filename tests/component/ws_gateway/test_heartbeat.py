"""Heartbeats: a quiet client learns it is caught up; a peer that stops answering is let go."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NATS

from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import (
    Sign,
    eventually,
    publish,
    raw_socket,
    recv_json,
)


async def test_a_quiet_socket_gets_a_heartbeat_with_its_users_newest_seq(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(HEARTBEAT_INTERVAL_S="0.2")
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "ping"}')
        await recv_json(ws)
        [seq] = await publish(nc, user_id, "the last thing that happened")
        event = await recv_json(ws)
        heartbeat = await recv_json(ws, within=10)

    assert event["seq"] == seq
    assert heartbeat == {"type": "heartbeat", "last_seq": seq}


async def test_a_new_socket_hears_the_newest_seq_of_events_from_before_it_connected(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    stored = await publish(nc, user_id, "earlier", "later")
    gateway = await start_gateway(HEARTBEAT_INTERVAL_S="0.2")

    async with await gateway.connect(sign(user_id)) as ws:
        heartbeat = await recv_json(ws, within=10)

    # Its own last seq is 0, so the client knows it is behind and can resume from 0.
    assert heartbeat == {"type": "heartbeat", "last_seq": stored[-1]}


async def test_a_peer_that_stops_answering_pings_is_closed_and_freed(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(WS_PING_INTERVAL_S="0.2", WS_PING_TIMEOUT_S="0.3")
    hub = gateway.server.node.hub
    peer, ours = await raw_socket(gateway, sign(user_id))  # it never answers a ping
    await eventually(lambda: len(list(hub.connections(user_id))) == 1)

    received = b""
    async with asyncio.timeout(15):
        while chunk := await peer.read(4096):  # pings, then the close frame, then EOF
            received += chunk
    await eventually(lambda: not list(hub.connections(user_id)), within=10)

    close_frame = b"\x88" + bytes([2 + len(b"keepalive ping timeout")])
    assert close_frame + CloseCode.INTERNAL_ERROR.to_bytes(2, "big") in received
    assert len(hub) == 0  # and the user's subscription went with it
    ours.close()


async def test_a_peer_that_answers_pings_stays_connected(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(WS_PING_INTERVAL_S="0.2", WS_PING_TIMEOUT_S="5")
    async with await gateway.connect(sign(user_id)) as ws:
        await asyncio.sleep(1.0)  # the scenario is time passing: several pings come and go
        await ws.send('{"type": "ping"}')

        assert await recv_json(ws) == {"type": "pong"}
