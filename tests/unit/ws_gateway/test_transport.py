"""One socket's reader and writer, against an in-memory socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from services.ws_gateway.session import Limits, Session, State
from services.ws_gateway.transport import Connection
from shared.errors import CloseCode
from shared.wire.runs import RunRequest


class MemorySocket:
    """Records what the connection writes; ``incoming`` is what the client sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed_with: tuple[int, str | None] | None = None
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.writable = asyncio.Event()
        self.writable.set()

    async def send_text(self, data: str) -> None:
        await self.writable.wait()
        self.sent.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.writable.wait()
        self.closed_with = (code, reason)
        await self.incoming.put({"type": "websocket.disconnect", "code": code})

    def client_sends(self, text: str) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": text})


def serve(limits: Limits | None = None) -> tuple[Connection, MemorySocket, list[RunRequest]]:
    socket = MemorySocket()
    submitted: list[RunRequest] = []
    conn = Connection(
        Session("alice", limits),
        socket,
        lambda _conn, request: submitted.append(request),
        close_timeout_s=0.2,
    )
    return conn, socket, submitted


async def test_frames_are_written_in_order_and_the_backlog_drains() -> None:
    conn, socket, submitted = serve()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    socket.client_sends('{"type": "ping"}')
    socket.client_sends('{"type": "message", "content": "hi"}')
    socket.client_sends("nope")
    await asyncio.sleep(0.05)

    assert [frame["type"] for frame in socket.sent] == ["pong", "error"]
    assert [request.content for request in submitted] == ["hi"]
    assert conn.session.queued_frames == 0
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await running
    assert conn.session.state is State.CLOSED


async def test_slow_consumer_close_drops_the_queue_and_sends_4008() -> None:
    conn, socket, _ = serve(Limits(max_queued_frames=3))
    socket.writable.clear()  # the peer stopped reading
    running = asyncio.create_task(conn.run(socket.incoming.get))
    for _ in range(4):
        socket.client_sends('{"type": "ping"}')
    await asyncio.sleep(0.05)
    socket.writable.set()  # it reads again: what is left is the frame in flight, then the close
    await running

    assert len(socket.sent) <= 1
    assert socket.closed_with is not None and socket.closed_with[0] == CloseCode.SLOW_CONSUMER


async def test_a_peer_that_never_takes_the_close_frame_is_let_go() -> None:
    conn, socket, _ = serve()
    socket.writable.clear()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    await asyncio.sleep(0)

    conn.close(CloseCode.SERVER_RESTART, "restart")
    await asyncio.wait_for(running, 2)  # close_timeout_s is 0.2

    assert socket.closed_with is None
    assert conn.session.state is State.CLOSED


async def test_a_long_close_reason_is_cut_to_the_protocols_limit() -> None:
    conn, socket, _ = serve()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    await asyncio.sleep(0)

    conn.close(CloseCode.SERVER_RESTART, "é" * 100)
    await running

    assert socket.closed_with is not None
    assert len((socket.closed_with[1] or "").encode()) <= 123
