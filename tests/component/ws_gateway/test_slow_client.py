"""A client that stops reading is closed with 4008 and never holds anyone else up."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import nats
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.ws_gateway.session import Session, State
from shared.bus import EventPublisher
from shared.errors import CloseCode
from shared.wire import events
from tests.component.ws_gateway.conftest import RunningGateway, Sign, eventually, recv_json

BIG = "x" * 8000  # with small socket buffers, a few dozen of these fill the path to the client
FLOOD = 200
FAST_EVERY = 20


def _thinking(thought: str, step: int) -> events.AgentThinking:
    return events.AgentThinking(
        run_id="run-slow",
        thread_id="th",
        data=events.AgentThinkingData(agent_id="a", thought=thought, step=step),
    )


async def _non_reading_client(gateway: RunningGateway, token: str) -> ClientConnection:
    """A websockets client that stops reading after one frame, on a tiny TCP receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", gateway.server.port))
    return await connect(
        gateway.url,
        sock=sock,
        additional_headers={"Authorization": f"Bearer {token}"},
        max_queue=1,
        compression=None,
    )


async def _ready(ws: ClientConnection) -> None:
    """One round trip: the gateway has registered this socket with the hub."""
    await ws.send('{"type": "ping"}')
    assert await recv_json(ws) == {"type": "pong"}


def _session_of(gateway: RunningGateway, user_id: str) -> Session:
    [conn] = gateway.server.node.hub.connections(user_id)
    return conn.session


async def _flood(nc: nats.aio.client.Client, slow_user: str, fast_user: str) -> dict[int, float]:
    """Publish FLOOD big events to the slow user, a small one to the fast user now and then."""
    publisher = EventPublisher(nc.jetstream())
    published: dict[int, float] = {}
    for step in range(FLOOD):
        await publisher.publish(slow_user, _thinking(BIG, step))
        if step % FAST_EVERY == 0:
            published[step] = time.monotonic()
            await publisher.publish(fast_user, _thinking("quick", step))
    return published


async def _collect(ws: ClientConnection, n: int) -> dict[int, float]:
    received: dict[int, float] = {}
    while len(received) < n:
        frame: dict[str, Any] = await recv_json(ws, within=10)
        received[frame["data"].get("step", 0)] = time.monotonic()  # 0 is omitted
    return received


async def test_client_that_never_reads_is_closed_with_4008_while_others_keep_receiving(
    start_gateway, nc: nats.aio.client.Client, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(
        send_buffer=16384, SEND_QUEUE_MAX_FRAMES="8", CLOSE_TIMEOUT_S="30"
    )
    slow_user, fast_user = user_id, user_id + "-fast"
    slow = await _non_reading_client(gateway, sign(slow_user))
    fast = await gateway.connect(sign(fast_user))
    await _ready(slow)
    await _ready(fast)
    slow_session = _session_of(gateway, slow_user)

    fast_reader = asyncio.create_task(_collect(fast, FLOOD // FAST_EVERY))
    published = await _flood(nc, slow_user, fast_user)
    received = await fast_reader

    # The fast user saw each of its events promptly, the flood next door notwithstanding.
    assert max(received[step] - published[step] for step in published) < 1.0
    await eventually(lambda: slow_session.state is State.CLOSING)
    # Once it reads again, the slow client finds part of the flood and then the close code.
    got = 0
    try:
        while True:
            await asyncio.wait_for(slow.recv(), 10)
            got += 1
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        assert closed.rcvd.code == CloseCode.SLOW_CONSUMER
    assert got < FLOOD
    await fast.close()


async def test_a_slow_client_that_never_takes_its_close_frame_is_let_go(
    start_gateway, nc: nats.aio.client.Client, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(
        send_buffer=16384, SEND_QUEUE_MAX_FRAMES="8", CLOSE_TIMEOUT_S="0.5"
    )
    slow = await _non_reading_client(gateway, sign(user_id))
    await _ready(slow)
    hub = gateway.server.node.hub

    publisher = EventPublisher(nc.jetstream())
    for step in range(FLOOD):
        await publisher.publish(user_id, _thinking(BIG, step))

    # Its session, queue and subscription are freed although the peer is still connected.
    await eventually(lambda: not list(hub.connections(user_id)))
    assert len(hub) == 0
    slow.transport.abort()
