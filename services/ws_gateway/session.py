"""One WebSocket connection's logic, sans I/O: frames and bus events in, commands out.

A :class:`Session` imports no asyncio, socket or NATS. The transport feeds it what arrives (a
client frame, a live event, a page of stored events, an agent's reply, a heartbeat tick) and
carries out the commands it returns (:mod:`~services.ws_gateway.commands`). Two parts do the
bookkeeping: the :class:`~services.ws_gateway.outbox.Outbox` (the bounded backlog, and frames
held for ``run_accepted``) and the :class:`~services.ws_gateway.cursor.Cursor` (where the socket
stands in its user's event log: dedupe, gaps, resume and replay).

Its lifecycle (OPEN, CLOSING, CLOSED) and the guard every input passes through are
:mod:`~services.ws_gateway.lifecycle`'s: anything that arrives after OPEN is ignored, and
whatever would take the backlog over its limits closes the session with ``SLOW_CONSUMER``
instead (the commands it would have sent are dropped with the transport's queue).

What the socket may still do is the :mod:`~services.ws_gateway.guard`'s: its credentials (renewed
by ``auth`` frames, expired by the gateway's timer, matched against revocations) and its rate.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from services.ws_gateway.asks import request_for
from services.ws_gateway.commands import (
    Authenticate,
    Close,
    Command,
    LoadRun,
    Replay,
    Request,
    RequestKind,
    Send,
    Submit,
)
from services.ws_gateway.cursor import Cursor
from services.ws_gateway.framing import (
    PONG,
    AgentReply,
    agent_reply_frame,
    error_frame,
    heartbeat_frame,
    parse_client_frame,
    run_accepted_frame,
    with_seq,
)
from services.ws_gateway.guard import Credentials, Due, RateLimiter, RateLimits, Verdict
from services.ws_gateway.lifecycle import (
    SLOW_CONSUMER_REASON,
    InvalidTransition,
    State,
    check_move,
    while_open,
)
from services.ws_gateway.outbox import BacklogFull, Limits, Outbox
from shared.errors import CloseCode, ErrorCode
from shared.tokens import AccessClaims
from shared.wire.frames import (
    Approve,
    Auth,
    AuthOk,
    Cancel,
    Deny,
    ListAgents,
    ListRuns,
    ListThreads,
    Ping,
    Resume,
    RunEvents,
    SendMessage,
    TokenExpiring,
    encode_frame,
)
from shared.wire.revocation import Revocation
from shared.wire.runs import (
    RunRejected,
    RunRequest,
    RunStarted,
)

__all__ = [
    "EXPIRED_REASON",
    "FLOOD_REASON",
    "MAX_SEQ",
    "NO_AGENT_MESSAGE",
    "REPLAY_FAILED_REASON",
    "SLOW_CONSUMER_REASON",
    "Authenticate",
    "Close",
    "Command",
    "InvalidTransition",
    "Limits",
    "LoadRun",
    "Replay",
    "Request",
    "RequestKind",
    "Send",
    "Session",
    "State",
    "Submit",
    "error_frame",
    "with_seq",
]

NO_AGENT_MESSAGE = "no agent is available to take this message; try again shortly"
REPLAY_FAILED_REASON = "event log unavailable; reconnect to resume"
EXPIRED_REASON = "token expired"
FLOOD_REASON = "too many messages"
OTHER_USER_REASON = "token of another user"
MAX_SEQ = 2**63 - 1  # JetStream sequences are uint64; this also fits every JSON reader
_AFTER_SEQ = re.compile(r"[0-9]{1,19}")
_DELTAS = {"1": True, "true": True, "0": False, "false": False}


class Session:
    """The per-connection state machine; ``user_id`` comes from the verified token only."""

    def __init__(
        self,
        user_id: str,
        limits: Limits | None = None,
        *,
        credentials: Credentials | None = None,
        rate: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user_id = user_id
        self._limits = limits or Limits()
        self._state = State.OPEN
        self._out = Outbox(self._limits)
        self._cursor = Cursor(self._out)
        self._credentials = credentials or Credentials(None)
        self._rate = RateLimiter(rate or RateLimits(), clock)

    @property
    def user_id(self) -> str:
        return self._user_id

    @property
    def state(self) -> State:
        return self._state

    @property
    def last_seq(self) -> int:
        """The seq of the last event given to the transport; a reconnect resumes after it."""
        return self._out.last_seq

    @property
    def replaying(self) -> bool:
        return self._cursor.replaying

    @property
    def queued_frames(self) -> int:
        return self._out.queued_frames

    @property
    def queued_bytes(self) -> int:
        return self._out.queued_bytes

    # Client frames

    @property
    def deltas(self) -> bool:
        """The socket asked for streamed text and tool progress (``deltas=1``)."""
        return self._cursor.deltas

    @while_open
    def open(self, after_seq: str | None, deltas: str | None = None) -> list[Command]:
        """The socket is served; ``after_seq`` and ``deltas`` are the handshake's query
        parameters, if any. A ``deltas=1`` socket without ``after_seq`` starts with a snapshot
        of the user's runs under way."""
        commands: list[Command] = []
        if deltas is not None:
            if deltas.lower() in _DELTAS:
                self._cursor.deltas = _DELTAS[deltas.lower()]
            else:
                message = f"deltas must be 1 or 0, got {deltas[:32]!r}; streamed text is off"
                commands += self._out.send(error_frame(ErrorCode.INVALID_FRAME, message))
        if after_seq is None:
            return commands + (self._cursor.snapshot() if self.deltas else [])
        if not _AFTER_SEQ.fullmatch(after_seq):
            message = f"after_seq must be a whole number >= 0, got {after_seq[:32]!r}"
            commands += self._out.send(error_frame(ErrorCode.INVALID_FRAME, message))
            return commands + (self._cursor.snapshot() if self.deltas else [])
        return commands + self.resume(int(after_seq))

    @while_open
    def receive(self, data: str | bytes) -> list[Command]:
        """Handle one client frame; a bad one gets an error frame and the session stays OPEN."""
        match self._rate.admit():
            case Verdict.REFUSE:
                message = "too many messages; slow down (this frame was dropped)"
                return self._out.send(error_frame(ErrorCode.RATE_LIMITED, message))
            case Verdict.ABUSE:
                return self.close(CloseCode.TOO_MANY_REQUESTS, FLOOD_REASON)
        raw = data.encode() if isinstance(data, str) else data
        limit = self._limits.max_frame_bytes
        if len(raw) > limit:
            message = f"frame of {len(raw)} bytes is over the limit of {limit}"
            return self._out.send(error_frame(ErrorCode.FRAME_TOO_LARGE, message))
        frame = parse_client_frame(raw)
        match frame:
            case bytes():
                return self._out.send(frame)
            case Ping():
                return self._out.send(PONG)
            case SendMessage():
                return self._submit(frame)
            case Resume(after_seq=after_seq):
                return self.resume(after_seq)
            case Cancel() | ListThreads() | ListRuns() | ListAgents() | Approve() | Deny():
                return [request_for(frame, self._user_id)]
            case RunEvents(run_id=run_id, after_seq=after_seq, upto_seq=upto_seq):
                if after_seq > MAX_SEQ or upto_seq > MAX_SEQ:
                    message = "after_seq and upto_seq must be below 2**63"
                    return self._out.send(error_frame(ErrorCode.INVALID_FRAME, message))
                return [LoadRun(run_id, after_seq, upto_seq)]
            case Auth(token=token):
                return [Authenticate(token)]
        raise AssertionError(f"unhandled client frame {frame!r}")  # pragma: no cover

    def _submit(self, frame: SendMessage) -> list[Command]:
        self._out.submit_started()
        request = RunRequest(
            user_id=self._user_id,
            content=frame.content,
            thread_id=frame.thread_id,
            client_msg_id=frame.client_msg_id,
            agent=frame.agent,
        )
        return [Submit(request)]

    # Credentials

    @while_open
    def reauthenticated(self, claims: AccessClaims) -> list[Command]:
        """A fresh token was verified: the socket lives on, unless it is another user's."""
        if claims.user_id != self._user_id:
            message = "the token in an auth frame must be the same user's as the socket's"
            return self._refuse(CloseCode.UNAUTHORIZED, OTHER_USER_REASON, message)
        self._credentials.renew(claims)
        return self._out.send(encode_frame(AuthOk(expires_at=int(claims.expires_at))))

    @while_open
    def reauth_refused(self, code: CloseCode, reason: str) -> list[Command]:
        """The token in an ``auth`` frame was refused (invalid, expired or revoked): close."""
        error = ErrorCode.SESSION_REVOKED if code is CloseCode.SESSION_REVOKED else None
        return self._refuse(code, reason, reason, error)

    @while_open
    def expiry(self, now: float) -> list[Command]:
        """A tick of the gateway's expiry timer (wall-clock ``now``): warn, or close."""
        match self._credentials.due(now):
            case Due.WARN:
                expires_at = int(self._credentials.expires_at or 0)
                grace_s = int(self._credentials.grace_s)
                return self._out.send(
                    encode_frame(TokenExpiring(expires_at=expires_at, grace_s=grace_s))
                )
            case Due.EXPIRED:
                return self.close(CloseCode.UNAUTHORIZED, EXPIRED_REASON)
        return []

    @while_open
    def revoke(self, revocation: Revocation) -> list[Command]:
        """A revocation for this user: close if it covers the token the socket holds."""
        if not self._credentials.revoked_by(revocation):
            return []
        return self.close(CloseCode.SESSION_REVOKED, f"session revoked: {revocation.reason}"[:80])

    def _refuse(
        self, code: CloseCode, reason: str, message: str, error: ErrorCode | None = None
    ) -> list[Command]:
        frame = error_frame(error or ErrorCode.UNAUTHORIZED, message)
        return self.close(code, reason, last_frame=frame)

    # Agent replies

    @while_open
    def submit_done(
        self, reply: RunStarted | RunRejected, client_msg_id: str | None
    ) -> list[Command]:
        """The agents answered a Submit: run_accepted (or the rejection), then held frames."""
        match reply:
            case RunStarted():
                frame = run_accepted_frame(reply, client_msg_id, self._cursor.resume_point())
            case RunRejected(code=code, message=message):
                frame = error_frame(code, message)
        return self._out.submit_answered(frame)

    @while_open
    def submit_failed(
        self, code: ErrorCode | str, message: str = NO_AGENT_MESSAGE
    ) -> list[Command]:
        """No agent answered a Submit in time (or at all)."""
        return self._out.submit_answered(error_frame(code, message))

    @while_open
    def request_done(self, reply: AgentReply) -> list[Command]:
        """The agents answered a cancel or list Request."""
        return self._out.send(agent_reply_frame(reply))

    @while_open
    def request_failed(
        self, code: ErrorCode | str, message: str = NO_AGENT_MESSAGE
    ) -> list[Command]:
        return self._out.send(error_frame(code, message))

    # Events and replay (the cursor's)

    def event(self, seq: int, payload: bytes, previous: int = 0) -> list[Command]:
        """A live event stored at ``seq``; ``previous`` is the user's event before it (0: none)."""
        # The hot path (every event, every socket): _while_open spelled out, without its wrapper.
        if self._state is not State.OPEN:
            return []
        try:
            return self._cursor.event(seq, payload, previous)
        except BacklogFull:
            return self.close(CloseCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON)

    def baseline(self, seq: int) -> None:
        """The user's newest event when this socket joined (the hub looks it up once per user)."""
        self._cursor.baseline(seq)

    @while_open
    def repair(self) -> list[Command]:
        """The gateway's NATS connection came back: live events may have been lost meanwhile."""
        return self._cursor.repair()

    @while_open
    def resume(self, after_seq: int) -> list[Command]:
        """Replay every stored event after ``after_seq``, then ``caught_up``, then live ones."""
        if after_seq > MAX_SEQ:
            message = "after_seq is out of range"
            return self._out.send(error_frame(ErrorCode.INVALID_FRAME, message))
        return self._cursor.resume(after_seq)

    def page_budget(self) -> tuple[int, int] | None:
        """Room for the next replay page (frames, bytes); None: not now (see the Outbox)."""
        return self._out.page_budget() if self._state is State.OPEN else None

    @while_open
    def replay_gap(self, generation: int, after_seq: int, oldest_seq: int) -> list[Command]:
        """The stream no longer holds every event after ``after_seq``; it has from oldest_seq."""
        return self._cursor.replay_gap(generation, after_seq, oldest_seq)

    @while_open
    def replayed(self, generation: int, events: list[tuple[int, bytes | None]]) -> list[Command]:
        """One page of stored events (seq, payload), oldest first; a payload None is one the
        compaction left out (it still counts as delivered)."""
        return self._cursor.replayed(generation, events)

    @while_open
    def replay_done(self, generation: int, last_seq: int, beyond: bool = False) -> list[Command]:
        """The stream has nothing more; ``last_seq`` is the user's newest stored event (or 0).

        ``beyond``: the resume point is past the end of the stream (a log that was reset, say);
        the client carries on from its newest event instead of waiting for a seq to come.
        """
        return self._cursor.replay_done(generation, last_seq, beyond)

    @while_open
    def snapshot_done(self, generation: int, frames: list[bytes], upto_seq: int) -> list[Command]:
        """The snapshot on join is read: its ``run_snapshot`` frames, then the live events."""
        return self._cursor.snapshot_done(generation, frames, upto_seq)

    @while_open
    def run_loaded(self, frame: bytes) -> list[Command]:
        """The answer to ``run_events``: its ``run_snapshot`` frame."""
        return self._out.send(frame)

    @while_open
    def replay_failed(self, generation: int) -> list[Command]:
        """The stream could not be read: the client reconnects and resumes later."""
        if not self._cursor.is_current(generation):
            return []
        return self.close(CloseCode.INTERNAL_ERROR, REPLAY_FAILED_REASON)

    # Heartbeats

    @while_open
    def heartbeat(self, newest_seq: int) -> list[Command]:
        """A tick of the gateway's heartbeat timer: a socket quiet since the last tick gets one.

        ``newest_seq`` is the user's newest event the gateway knows of: a client whose own last
        seq matches knows it is caught up. None while a replay or held frames are pending.
        """
        if not self._out.tick() or self._cursor.replaying or self._out.waiting:
            return []
        return self._out.beat(heartbeat_frame(max(newest_seq, self._cursor.high_seq)))

    # Outbound accounting

    def sent(self, n_bytes: int) -> None:
        """The transport wrote one frame of ``n_bytes`` to the socket."""
        self._out.sent(n_bytes)

    # Lifecycle

    def close(
        self, code: CloseCode, reason: str, *, last_frame: bytes | None = None
    ) -> list[Command]:
        """Start closing (server side). The transport drops whatever it still had queued."""
        if self._state is not State.OPEN:
            return []
        self._move(State.CLOSING)
        self._forget()
        return [Close(code, reason, last_frame)]

    def closed(self) -> None:
        """The socket is gone, whoever closed it."""
        if self._state is not State.CLOSED:
            self._move(State.CLOSED)
            self._forget()

    def _forget(self) -> None:
        self._out.clear()
        self._cursor.forget()

    def _move(self, to: State) -> None:
        self._state = check_move(self._state, to)
