"""One WebSocket connection's logic, sans I/O: frames and bus events in, commands out.

A :class:`Session` imports no asyncio, socket or NATS. The transport feeds it what arrives (a
client frame, a bus event, a run submission's outcome) and carries out the commands it returns:

    Send(frame)        write this text frame to the socket
    Submit(request)    submit this run to the agents; report back with submit_done/submit_failed
    Close(code, ...)   close the socket with this code (the session is already CLOSING)

Lifecycle (guarded; anything that arrives after OPEN is ignored)::

    OPEN ──close()──▶ CLOSING ──closed()──▶ CLOSED
      └───────────────closed()──────────────▶┘

Backlog contract: every ``Send`` the session hands out counts as queued for the socket until the
transport reports it written with :meth:`Session.sent`. Frames held back during a submission
count too. A send that would take the backlog over :class:`Limits` closes the session with
``CloseCode.SLOW_CONSUMER`` instead, so a client that stops reading costs bounded memory and
never slows the bus or other sockets down; it reconnects and resumes from :attr:`last_seq`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

import msgspec

from shared.errors import CloseCode, ErrorCode
from shared.wire.frames import (
    CLIENT_FRAME_TYPES,
    ErrorData,
    ErrorFrame,
    Ping,
    Pong,
    RunAccepted,
    SendMessage,
    decode_client_frame,
    decode_frame_head,
    encode_frame,
)
from shared.wire.runs import RunRejected, RunRequest, RunStarted

__all__ = [
    "NO_AGENT_MESSAGE",
    "SLOW_CONSUMER_REASON",
    "Close",
    "Command",
    "InvalidTransition",
    "Limits",
    "Send",
    "Session",
    "State",
    "Submit",
    "error_frame",
    "with_seq",
]

NO_AGENT_MESSAGE = "no agent is available to take this message; try again shortly"
SLOW_CONSUMER_REASON = "client too slow to keep up; reconnect to resume"

_PONG = encode_frame(Pong())
_ID_FIELDS = frozenset({"thread_id", "client_msg_id"})
# msgspec names the failing field at the end of its message: "... - at `$.thread_id`".
_FAILING_FIELD = re.compile(r"- at `\$\.([A-Za-z_]+)")


@dataclass(frozen=True, slots=True)
class Send:
    frame: bytes


@dataclass(frozen=True, slots=True)
class Submit:
    request: RunRequest


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


Command = Send | Submit | Close


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 65_536
    max_queued_frames: int = 1024
    max_queued_bytes: int = 4 * 1024 * 1024


class State(Enum):
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


_ALLOWED = {
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug in the caller: the session was asked to move where its lifecycle does not go."""


def error_frame(code: ErrorCode | str, message: str) -> bytes:
    return encode_frame(ErrorFrame(data=ErrorData(code=str(code), message=message)))


def with_seq(seq: int, payload: bytes) -> bytes:
    """The bus payload as a socket frame: ``"seq":<seq>,`` spliced in after the opening ``{``.

    A byte splice instead of decode + encode: it is a copy rather than a parse per event per
    socket (the hot path), and it forwards the producer's bytes untouched, so fields this gateway
    version does not know yet still reach the client. It relies on the bus contract that events
    are JSON objects encoded without ``seq`` (``encode_event`` omits the default 0).
    """
    if payload[1:2] == b"}":  # an empty object takes no comma
        return b'{"seq":%d}' % seq
    return b'{"seq":%d,%s' % (seq, payload[1:])


class Session:
    """The per-connection state machine; ``user_id`` comes from the verified token only."""

    def __init__(self, user_id: str, limits: Limits | None = None) -> None:
        self._user_id = user_id
        self._limits = limits or Limits()
        self._state = State.OPEN
        self._last_seq = 0  # the last seq handed out in a Send
        self._high_seq = 0  # the last seq accepted, held or sent: duplicates are below it
        self._submits_outstanding = 0
        self._held: list[tuple[int, bytes]] = []
        self._queued_frames = 0
        self._queued_bytes = 0

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def state(self) -> State:
        return self._state

    @property
    def last_seq(self) -> int:
        """The seq of the last event given to the transport; a reconnect resumes after it."""
        return self._last_seq

    @property
    def queued_frames(self) -> int:
        return self._queued_frames

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    # Client frames

    def receive(self, data: str | bytes) -> list[Command]:
        """Handle one client frame; a bad one gets an error frame and the session stays OPEN."""
        if self._state is not State.OPEN:
            return []
        raw = data.encode() if isinstance(data, str) else data
        limit = self._limits.max_frame_bytes
        if len(raw) > limit:
            message = f"frame of {len(raw)} bytes is over the limit of {limit}"
            return self._send(error_frame(ErrorCode.FRAME_TOO_LARGE, message))
        frame = self._decode(raw)
        if isinstance(frame, bytes):
            return self._send(frame)
        match frame:
            case Ping():
                return self._send(_PONG)
            case SendMessage():
                return self._submit(frame)
        raise AssertionError(f"unhandled client frame {frame!r}")  # pragma: no cover

    def _decode(self, raw: bytes) -> SendMessage | Ping | bytes:
        """The typed frame, or the error frame that answers it."""
        try:
            head = decode_frame_head(raw)
        except msgspec.ValidationError as exc:
            return error_frame(ErrorCode.INVALID_FRAME, str(exc))
        except msgspec.DecodeError as exc:
            return error_frame(ErrorCode.INVALID_JSON, str(exc))
        if head.type not in CLIENT_FRAME_TYPES:
            expected = ", ".join(sorted(CLIENT_FRAME_TYPES))
            return error_frame(
                ErrorCode.UNKNOWN_TYPE,
                f"unknown frame type {head.type[:64]!r}; expected one of: {expected}",
            )
        try:
            return decode_client_frame(raw)
        except msgspec.DecodeError as exc:
            message = str(exc)
            failing = _FAILING_FIELD.search(message)
            is_id = failing is not None and failing.group(1) in _ID_FIELDS
            return error_frame(ErrorCode.INVALID_ID if is_id else ErrorCode.INVALID_FRAME, message)

    def _submit(self, frame: SendMessage) -> list[Command]:
        self._submits_outstanding += 1
        request = RunRequest(
            user_id=self._user_id,
            content=frame.content,
            thread_id=frame.thread_id,
            client_msg_id=frame.client_msg_id,
        )
        return [Submit(request)]

    # Run submissions

    def submit_done(
        self, reply: RunStarted | RunRejected, client_msg_id: str | None
    ) -> list[Command]:
        """The agents answered a Submit: run_accepted (or the rejection), then any held events."""
        self._submits_outstanding = max(0, self._submits_outstanding - 1)
        if self._state is not State.OPEN:
            return []
        match reply:
            case RunStarted(run_id=run_id, thread_id=thread_id):
                frame = encode_frame(
                    RunAccepted(run_id=run_id, thread_id=thread_id, client_msg_id=client_msg_id)
                )
            case RunRejected(code=code, message=message):
                frame = error_frame(code, message)
        return self._send(frame) + self._release_held()

    def submit_failed(
        self, code: ErrorCode | str, message: str = NO_AGENT_MESSAGE
    ) -> list[Command]:
        """No agent answered a Submit in time (or at all)."""
        self._submits_outstanding = max(0, self._submits_outstanding - 1)
        if self._state is not State.OPEN:
            return []
        return self._send(error_frame(code, message)) + self._release_held()

    def _release_held(self) -> list[Command]:
        """Events held during submissions go out once none is outstanding, already counted."""
        if self._submits_outstanding or not self._held or self._state is not State.OPEN:
            return []
        held, self._held = self._held, []
        self._last_seq = held[-1][0]
        return [Send(frame) for _, frame in held]

    # Bus events

    def event(self, seq: int, payload: bytes) -> list[Command]:
        """An event stored at stream position ``seq``; older or repeated ones are dropped."""
        if self._state is not State.OPEN or seq <= self._high_seq:
            return []
        self._high_seq = seq
        frame = with_seq(seq, payload)
        if self._submits_outstanding:
            # The agent's reply and this event race inside the gateway; the client must see
            # run_accepted before its run's first event, so hold until the reply is handled.
            if not self._count(frame):
                return self._slow_consumer()
            self._held.append((seq, frame))
            return []
        commands = self._send(frame)
        if self._state is State.OPEN:
            self._last_seq = seq
        return commands

    # Outbound accounting

    def sent(self, n_bytes: int) -> None:
        """The transport wrote one frame of ``n_bytes`` to the socket."""
        self._queued_frames = max(0, self._queued_frames - 1)
        self._queued_bytes = max(0, self._queued_bytes - n_bytes)

    def _count(self, frame: bytes) -> bool:
        """Add ``frame`` to the backlog, unless that takes the backlog over its limits."""
        frames = self._queued_frames + 1
        n_bytes = self._queued_bytes + len(frame)
        if frames > self._limits.max_queued_frames or n_bytes > self._limits.max_queued_bytes:
            return False
        self._queued_frames, self._queued_bytes = frames, n_bytes
        return True

    def _send(self, frame: bytes) -> list[Command]:
        if not self._count(frame):
            return self._slow_consumer()
        return [Send(frame)]

    def _slow_consumer(self) -> list[Command]:
        return self.close(CloseCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON)

    # Lifecycle

    def close(self, code: CloseCode, reason: str) -> list[Command]:
        """Start closing (server side). The transport drops whatever it still had queued."""
        if self._state is not State.OPEN:
            return []
        self._move(State.CLOSING)
        self._held.clear()
        self._queued_frames = self._queued_bytes = 0
        return [Close(code, reason)]

    def closed(self) -> None:
        """The socket is gone, whoever closed it."""
        if self._state is not State.CLOSED:
            self._move(State.CLOSED)
            self._held.clear()

    def _move(self, to: State) -> None:
        if to not in _ALLOWED[self._state]:
            raise InvalidTransition(f"session cannot go from {self._state.name} to {to.name}")
        self._state = to
