"""One socket's I/O: carries out a :class:`~services.ws_gateway.session.Session`'s commands.

The session decides; the connection only moves bytes. Up to three tasks per socket:

- the reader awaits client frames and feeds them to the session;
- the writer drains the send queue to the socket. It is the only coroutine that writes, so
  frames never interleave, and a socket that stops reading blocks nothing but its own writer;
- a replay, while the session wants one: it reads the stream and feeds pages in, each only once
  the writer has made room (:meth:`Connection.page_budget`). A newer replay cancels the older.

Everything that feeds the queue (the hub's NATS callback, the reader, a finished request, a
replay page) appends without awaiting. The queue's bound lives in the session (see the Outbox):
over it, the session answers with ``Close(SLOW_CONSUMER)`` and the queue is dropped at once.
Work that needs NATS (submissions, agent requests, replays) is the :class:`Backend`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from litestar.exceptions import WebSocketDisconnect

from services.ws_gateway.session import (
    Authenticate,
    Close,
    Command,
    Replay,
    Request,
    Send,
    Session,
    State,
    Submit,
)
from shared.errors import CloseCode
from shared.wire.runs import RunRequest

__all__ = ["Backend", "Connection", "Receive", "Socket"]

log = logging.getLogger(__name__)

# The peer vanished under a send: uvicorn raises ClientDisconnected (an OSError), Litestar
# raises WebSocketDisconnect once it has seen the disconnect message.
_GONE = (OSError, WebSocketDisconnect)
# RFC 6455 caps a close reason at 123 bytes of UTF-8.
_MAX_REASON_BYTES = 123

Receive = Callable[[], Awaitable[Mapping[str, Any]]]


class Backend(Protocol):
    """What a connection asks of the gateway's NATS side (the node)."""

    def submit(self, conn: Connection, request: RunRequest) -> None:
        """Submit a run without blocking; report back with session.submit_done/_failed."""

    def request(self, conn: Connection, request: Request) -> None:
        """Ask the agents without blocking; report back with session.request_done/_failed."""

    async def replay(self, conn: Connection, replay: Replay) -> None:
        """Read the stream and feed the session (runs as the connection's replay task)."""

    def reauthenticate(self, conn: Connection, token: str) -> None:
        """Verify a fresh token without blocking; report with session.reauthenticated/_refused."""


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    """A socket, its session and its send queue."""

    def __init__(
        self,
        session: Session,
        socket: Socket,
        backend: Backend,
        *,
        close_timeout_s: float = 10.0,
    ) -> None:
        self.session = session
        self._socket = socket
        self._backend = backend
        self._close_timeout_s = close_timeout_s
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()  # set whenever the backlog may have shrunk
        self._closing: Close | None = None
        self._writer: asyncio.Task[None] | None = None
        self._replay: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return self.session.user_id

    def deliver(self, seq: int, payload: bytes, previous: int = 0) -> None:
        """A live event for this socket's user (called from the hub's NATS callback)."""
        self.execute(self.session.event(seq, payload, previous))

    def close(self, code: CloseCode, reason: str) -> None:
        self.execute(self.session.close(code, reason))

    def execute(self, commands: list[Command]) -> None:
        """Carry out a session's commands without awaiting anything."""
        for command in commands:
            match command:
                case Send(frame=frame):
                    self._queue.append(frame)
                    self._wake.set()
                case Submit(request=request):
                    self._backend.submit(self, request)
                case Request():
                    self._backend.request(self, command)
                case Replay():
                    self._start_replay(command)
                case Authenticate(token=token):
                    self._backend.reauthenticate(self, token)
                case Close():
                    self._begin_close(command)
        self._room.set()  # a submission may have been answered: a replay may go on

    def _start_replay(self, replay: Replay) -> None:
        if self._replay is not None:
            self._replay.cancel()  # superseded: its pages would be stale anyway
        if self.session.state is not State.OPEN:
            return  # turned away (a stopping node) before it was served: nothing to read
        self._replay = asyncio.create_task(
            self._backend.replay(self, replay), name=f"ws-replay-{self.user_id}"
        )

    async def page_budget(self) -> tuple[int, int] | None:
        """Wait until the session has room for a replay page; None once it is closing."""
        while self.session.state is State.OPEN:
            budget = self.session.page_budget()
            if budget is not None:
                return budget
            self._room.clear()
            await self._room.wait()
        return None

    def _begin_close(self, command: Close) -> None:
        self._queue.clear()  # the client resumes from its last seq; no need to flush
        if command.last_frame is not None:
            self._queue.append(command.last_frame)  # the one frame that says why
        self._closing = command
        self._wake.set()
        self._room.set()
        # A peer that never reads would hold the close frame (and this task) for ever.
        asyncio.get_running_loop().call_later(self._close_timeout_s, self._abandon)

    def _abandon(self) -> None:
        if self._writer is not None and not self._writer.done():
            log.info(
                "user %s: socket did not take its close frame in time; letting go", self.user_id
            )
            self._writer.cancel()

    async def run(self, receive: Receive, opening: list[Command] | None = None) -> None:
        """Serve the socket until either side closes it.

        ``opening``: what ``session.open()`` asked for before the socket joined the hub (a
        resume's Replay, say); carried out now, once the socket is in place.
        """
        reader = asyncio.create_task(self._read(receive), name=f"ws-read-{self.user_id}")
        self._writer = asyncio.create_task(self._write(), name=f"ws-write-{self.user_id}")
        self.execute(opening or [])
        try:
            done, _ = await asyncio.wait(
                {reader, self._writer}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self.session.closed()  # first: a closed session starts no new replay
            tasks = [reader, self._writer, *([self._replay] if self._replay else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def wait_closed(self) -> None:
        """Return once the writer has finished (close frame sent, peer gone, or abandoned)."""
        if self._writer is not None:
            await asyncio.wait({self._writer})

    async def _read(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return  # websocket.disconnect: the peer closed or the transport failed
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            self.execute(self.session.receive(data))

    async def _write(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                # Once closing, only the close's own last frame is left in the queue.
                while self._queue:
                    frame = self._queue.popleft()
                    # ASGI text frames are str; the bytes are UTF-8 JSON from our own encoders.
                    await self._socket.send_text(frame.decode())
                    self.session.sent(len(frame))
                    self._room.set()
                if self._closing is not None:
                    reason = self._closing.reason.encode()[:_MAX_REASON_BYTES]
                    await self._socket.close(self._closing.code, reason.decode(errors="ignore"))
                    return
        except _GONE:
            return
