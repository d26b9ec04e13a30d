"""One socket's I/O: carries out a :class:`~services.ws_gateway.session.Session`'s commands.

The session decides; the connection only moves bytes, through a :class:`Sink` (the WebSocket
edge, :mod:`services.ws_gateway.edge`, in the gateway; a list in unit tests).

Writes are coalesced, never awaited. Everything that feeds the socket (the hub's NATS callback,
a client frame, a finished request, a replay page) appends to the send queue; once per
event-loop turn the :class:`Flusher` then hands each sink every frame queued for it at once,
so a burst of events for one socket costs one ``write`` system call, not one each. While the
sink is paused (the kernel's and the transport's buffers are full: the client is not reading)
frames stay queued, counted against the session's bound (see the Outbox): over it, the session
answers with ``Close(SLOW_CONSUMER)`` and the queue is dropped at once. Nothing here ever blocks
the NATS subscription or another socket.

A replay runs as the connection's one task while the session wants one: it reads the stream and
feeds pages in, each only once the queue has made room (:meth:`Connection.page_budget`). A newer
replay cancels the older. Work that needs NATS (submissions, agent requests, replays) is the
:class:`Backend`'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from services.ws_gateway.metrics import EVENT_FRAME, GATEWAY
from services.ws_gateway.session import (
    Authenticate,
    Close,
    Command,
    LoadRun,
    Replay,
    Request,
    Send,
    Session,
    State,
    Submit,
)
from shared.errors import CloseCode
from shared.wire.runs import RunRequest

__all__ = ["Backend", "Connection", "Flusher", "Sink"]

log = logging.getLogger(__name__)


class Backend(Protocol):
    """What a connection asks of the gateway's NATS side (the node)."""

    def submit(self, conn: Connection, request: RunRequest) -> None:
        """Submit a run without blocking; report back with session.submit_done/_failed."""

    def request(self, conn: Connection, request: Request) -> None:
        """Ask the agents without blocking; report back with session.request_done/_failed."""

    async def replay(self, conn: Connection, replay: Replay) -> None:
        """Read the stream and feed the session (runs as the connection's replay task)."""

    async def load_run(self, conn: Connection, load: LoadRun) -> None:
        """Read one run's events for ``run_events``; report with session.run_loaded."""

    def reauthenticate(self, conn: Connection, token: str) -> None:
        """Verify a fresh token without blocking; report with session.reauthenticated/_refused."""


class Sink(Protocol):
    """Where a connection's frames go: the socket, as the WebSocket edge exposes it."""

    @property
    def writable(self) -> bool:
        """False while the peer is not taking what was already written (flow control)."""

    def write_frames(self, frames: list[bytes]) -> None:
        """Write these text frames' payloads, in order, without blocking."""

    def close(self, code: int, reason: str) -> None:
        """Send the close frame after everything written so far."""

    def abort(self) -> None:
        """Drop the socket now (a peer that will not take even its close frame)."""

    def keepalive(self, now: float, timeout_s: float) -> None:
        """Ping the peer; fail the socket if the previous ping waited over ``timeout_s``."""


class Flusher:
    """Flushes every connection that has frames queued, once per event-loop turn.

    One loop callback for all sockets rather than one each: at 1,000 sockets a callback per
    socket per event cost a fifth of the gateway's CPU (./dev bench, py-spy).
    """

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due: list[Connection] = []

    def due(self, conn: Connection) -> None:
        if not self._due:
            asyncio.get_running_loop().call_soon(self._flush)
        self._due.append(conn)

    def _flush(self) -> None:
        due, self._due = self._due, []
        for conn in due:
            try:
                conn.flush()
            except Exception:  # one broken socket must not cost the others their turn
                log.exception("socket of user %s failed to flush", conn.user_id)


class Connection:
    """A socket, its session and its send queue."""

    __slots__ = (
        "_backend",
        "_close_timeout_s",
        "_closed",
        "_closing",
        "_flusher",
        "_flushing",
        "_loads",
        "_queue",
        "_replay",
        "_room",
        "_sink",
        "session",
    )

    def __init__(
        self,
        session: Session,
        sink: Sink,
        backend: Backend,
        *,
        flusher: Flusher | None = None,
        close_timeout_s: float = 10.0,
    ) -> None:
        self.session = session
        self._sink = sink
        self._backend = backend
        self._flusher = flusher or Flusher()
        self._close_timeout_s = close_timeout_s
        self._queue: list[bytes] = []
        self._flushing = False  # a flush is scheduled for this loop turn
        self._closing: Close | None = None
        self._closed: asyncio.Future[None] | None = None  # made on demand: most never need it
        self._room: asyncio.Future[None] | None = None  # a replay waiting for the queue to drain
        self._replay: asyncio.Task[None] | None = None
        self._loads: set[asyncio.Task[None]] = set()  # run_events being answered

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
                    self._schedule_flush()
                case Submit(request=request):
                    self._backend.submit(self, request)
                case Request():
                    self._backend.request(self, command)
                case Replay():
                    self._start_replay(command)
                case LoadRun():
                    self._start_load(command)
                case Authenticate(token=token):
                    self._backend.reauthenticate(self, token)
                case Close():
                    self._begin_close(command)
        self._make_room()  # a submission may have been answered: a replay may go on

    # Writing

    def _schedule_flush(self) -> None:
        if not self._flushing:
            self._flushing = True
            self._flusher.due(self)

    def flush(self) -> None:
        """Hand every queued frame to the sink in one go (also called when it is writable again)."""
        self._flushing = False
        if not self._sink.writable:
            return  # resume_writing calls again
        frames, self._queue = self._queue, []
        if frames:
            self._sink.write_frames(frames)
            session = self.session
            if GATEWAY.enabled:  # the same loop, counting events inline: ~90 ns a flush
                events = 0
                for frame in frames:
                    session.sent(len(frame))
                    if frame.startswith(EVENT_FRAME):
                        events += 1
                GATEWAY.events_delivered.value += events
            else:
                for frame in frames:
                    session.sent(len(frame))
            self._make_room()
        if self._closing is not None:
            closing, self._closing = self._closing, None
            self._sink.close(closing.code, closing.reason)
            self._done()

    def _begin_close(self, command: Close) -> None:
        GATEWAY.closes.inc(str(int(command.code)))  # counted when decided, not when done
        self._queue.clear()  # the client resumes from its last seq; no need to flush
        if command.last_frame is not None:
            self._queue.append(command.last_frame)  # the one frame that says why
        self._closing = command
        self._make_room()
        self._schedule_flush()
        # A peer that never reads would hold the close frame (and this connection) for ever.
        asyncio.get_running_loop().call_later(self._close_timeout_s, self._abandon)

    def _abandon(self) -> None:
        if self._closing is not None:
            log.info(
                "user %s: socket did not take its close frame in time; letting go", self.user_id
            )
            self._closing = None
            self._sink.abort()
            self._done()

    def keepalive(self, now: float, timeout_s: float) -> None:
        self._sink.keepalive(now, timeout_s)

    # Lifecycle

    def start(self, opening: list[Command]) -> None:
        """Carry out what ``session.open()`` asked for, now that the socket is in place."""
        self.execute(opening)

    def lost(self) -> None:
        """The socket is gone, whoever closed it: stop everything this connection runs."""
        self.session.closed()  # first: a closed session starts no new replay
        self._queue.clear()
        self._closing = None
        if self._replay is not None:
            self._replay.cancel()
        for load in tuple(self._loads):
            load.cancel()
        self._make_room()
        self._done()

    async def wait_closed(self) -> None:
        """Return once the close frame is out, the peer is gone, or it was let go."""
        if self.session.state is State.CLOSED or (
            self.session.state is State.CLOSING and self._closing is None
        ):
            return
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._closed)

    def _done(self) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    # Replays

    def _start_load(self, load: LoadRun) -> None:
        if self.session.state is not State.OPEN:
            return
        task = asyncio.create_task(
            self._backend.load_run(self, load), name=f"ws-load-run-{self.user_id}"
        )
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)

    def _start_replay(self, replay: Replay) -> None:
        if self._replay is not None:
            self._replay.cancel()  # superseded: its pages would be stale anyway
        if self.session.state is not State.OPEN:
            return  # turned away (a stopping node) before it was served: nothing to read
        if replay.check_gap:  # a client's resume point (a repair starts from a known one)
            GATEWAY.resumes.value += 1
        elif not replay.snapshot:
            GATEWAY.repairs.value += 1
        self._replay = asyncio.create_task(
            self._backend.replay(self, replay), name=f"ws-replay-{self.user_id}"
        )

    async def page_budget(self) -> tuple[int, int] | None:
        """Wait until the session has room for a replay page; None once it is closing."""
        while self.session.state is State.OPEN:
            budget = self.session.page_budget()
            if budget is not None:
                return budget
            self._room = asyncio.get_running_loop().create_future()
            await self._room
        return None

    def _make_room(self) -> None:
        if self._room is not None:
            room, self._room = self._room, None
            if not room.done():
                room.set_result(None)
