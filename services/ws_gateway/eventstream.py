"""agentwire's protocol over plain HTTP, for networks that break WebSockets: SSE down, POST up.

    GET  /events   an SSE stream of the same frames a socket gets; each event frame carries
                   ``id: <seq>``, so a reconnect with ``Last-Event-ID`` (or ``?after_seq=``)
                   resumes exactly as ``/ws?after_seq=`` does; ``?deltas=1`` as on ``/ws``.
    POST /events   one client frame as the body; the answer is the frame that answers it
                   (``run_accepted``, ``error``, ``cancel_accepted``, ``threads``, ...).

Both take the access token in ``Authorization: Bearer`` only (never in the URL), and a browser's
``Origin`` must be allowed, as for ``/ws``. The stream is a :class:`~.transport.Connection`
like a socket's — same session, replay, hub and limits — whose sink is the HTTP response body
(:class:`SseSink`). A POST is answered by a short-lived session of its own, so it may reach any
gateway: the run's events come on whichever stream the user has open. A stream's end is said in
a last ``event: close`` with the code and reason a socket would have been closed with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Stream

from services.ws_gateway.auth import origin_allowed, read_handshake
from services.ws_gateway.authority import TokenRevoked
from services.ws_gateway.guard import Credentials, RateLimiter, RateLimits, Verdict
from services.ws_gateway.node import Node
from services.ws_gateway.session import Session
from services.ws_gateway.transport import Connection
from shared.errors import CloseCode, ErrorCode, Unauthorized
from shared.wire.frames import ErrorData, ErrorFrame, encode_frame

__all__ = ["SseSink", "event_stream", "post_frame", "sse_chunk"]

log = logging.getLogger(__name__)

_EVENT_PREFIX = b'{"seq":'
_MAX_BUFFERED = 4 * 1024 * 1024  # then the stream is not writable: the session's bound applies
_ANSWER_WAIT_S = 15.0
_UNLIMITED = RateLimits(messages_per_second=1e9, burst=1_000_000, close_after=1e9)


@dataclass(eq=False)
class SseSink:
    """A connection's frames as SSE chunks, taken by the HTTP response as the client reads."""

    chunks: list[bytes] = field(default_factory=list)
    buffered: int = 0
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def writable(self) -> bool:
        return self.buffered < _MAX_BUFFERED

    def write_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self._put(sse_chunk(frame))

    def close(self, code: int, reason: str) -> None:
        data = json.dumps({"code": int(code), "reason": reason}).encode()
        self._put(b"event: close\ndata: " + data + b"\n\n")
        self.closed = True

    def abort(self) -> None:
        self.closed = True
        self.wake.set()

    def keepalive(self, now: float, timeout_s: float) -> None:
        self._put(b": keep-alive\n\n")  # a comment: proxies see traffic on a quiet stream

    def take(self) -> list[bytes]:
        taken, self.chunks, self.buffered = self.chunks, [], 0
        self.wake.clear()
        return taken

    def _put(self, chunk: bytes) -> None:
        if not self.closed:
            self.chunks.append(chunk)
            self.buffered += len(chunk)
            self.wake.set()


def sse_chunk(frame: bytes) -> bytes:
    """One frame as an SSE event; an event frame (``{"seq":N,...``) with ``id: N``."""
    if frame.startswith(_EVENT_PREFIX):
        end = frame.find(b",", len(_EVENT_PREFIX))
        seq = frame[len(_EVENT_PREFIX) : end]
        if seq.isdigit():
            return b"id: " + seq + b"\ndata: " + frame + b"\n\n"
    return b"data: " + frame + b"\n\n"


@get("/events")
async def event_stream(request: Request, node: NamedDependency[Node]) -> Response[bytes] | Stream:  # type: ignore[type-arg]
    """The user's frames as SSE, from the resume point (``Last-Event-ID`` / ``after_seq``)."""
    refused = _refused_origin(request, node)
    if refused is not None:
        return refused
    try:
        claims = await node.authenticate(read_handshake(request.headers, ()).token)
    except Unauthorized as exc:
        return _unauthorized(exc)
    settings = node.settings
    session = Session(
        claims.user_id,
        settings.limits,
        credentials=Credentials(
            claims,
            grace_s=settings.token_expiry_grace_s,
            warning_s=settings.token_expiry_warning_s,
        ),
        rate=settings.rate_limits,
    )
    after_seq = request.headers.get("last-event-id") or request.query_params.get("after_seq")
    opening = session.open(after_seq, request.query_params.get("deltas"))
    sink = SseSink()
    conn = Connection(session, sink, node, flusher=node.flusher)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Stream(_pump(node, conn, sink, opening), media_type="text/event-stream", headers=headers)


async def _pump(node: Node, conn: Connection, sink: SseSink, opening: list) -> AsyncIterator[bytes]:  # type: ignore[type-arg]
    try:
        async with node.attached(conn):
            conn.flush()
            conn.start(opening)
            yield b": agentwire\n\n"  # the stream is open: headers go out now
            while True:
                await sink.wake.wait()
                chunks = sink.take()
                if chunks:
                    yield b"".join(chunks)
                if sink.closed:
                    return
                conn.flush()  # room again: whatever waited for it
    finally:
        conn.lost()


@dataclass
class _Answer:
    frames: list[bytes] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    writable: bool = True

    def write_frames(self, frames: list[bytes]) -> None:
        self.frames += frames
        self.arrived.set()

    def close(self, code: int, reason: str) -> None:
        self.arrived.set()

    def abort(self) -> None:
        self.arrived.set()

    def keepalive(self, now: float, timeout_s: float) -> None:
        return None


_limiters: dict[str, RateLimiter] = {}


@post("/events", status_code=200)
async def post_frame(request: Request, node: NamedDependency[Node]) -> Response[bytes]:  # type: ignore[type-arg]
    """One client frame; the frame that answers it."""
    refused = _refused_origin(request, node)
    if refused is not None:
        return refused
    try:
        claims = await node.authenticate(read_handshake(request.headers, ()).token)
    except Unauthorized as exc:
        return _unauthorized(exc)
    cors: dict[str, str] = {}  # CORS headers: Litestar's CORS config (see app.create_app)
    if _limiter(claims.user_id, node).admit() is not Verdict.ADMIT:
        message = "too many messages; slow down (this frame was dropped)"
        return _frame(_error(ErrorCode.RATE_LIMITED, message), cors, 429)
    body = await request.body()
    if body.lstrip().startswith(b'{"type":"auth"') or b'"type": "auth"' in body[:40]:
        return _frame(_error(ErrorCode.INVALID_FRAME, "send the token in the header"), cors)
    session = Session(claims.user_id, node.settings.limits, rate=_UNLIMITED)
    answer = _Answer()
    conn = Connection(session, answer, node, flusher=node.flusher)  # type: ignore[arg-type]
    try:
        conn.execute(session.receive(body))
        conn.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answer.arrived.wait(), _ANSWER_WAIT_S)
        conn.flush()
    finally:
        conn.lost()
    if not answer.frames:
        return _frame(_error(ErrorCode.NO_AGENT_AVAILABLE, "no answer in time"), cors, 504)
    return _frame(answer.frames[0], cors)


def _limiter(user_id: str, node: Node) -> RateLimiter:
    limiter = _limiters.get(user_id)
    if limiter is None:
        if len(_limiters) > 100_000:  # a bound on memory: forget them all, they refill anyway
            _limiters.clear()
        limiter = _limiters[user_id] = RateLimiter(node.settings.rate_limits, time.monotonic)
    return limiter


def _refused_origin(request: Request, node: Node) -> Response[bytes] | None:  # type: ignore[type-arg]
    origin = request.headers.get("origin")
    if origin_allowed(origin, request.headers.get("host"), node.settings.allowed_origins):
        return None
    return Response(
        b'{"error":"origin not allowed"}', status_code=403, media_type="application/json"
    )


def _unauthorized(exc: Unauthorized) -> Response[bytes]:
    code = CloseCode.SESSION_REVOKED if isinstance(exc, TokenRevoked) else CloseCode.UNAUTHORIZED
    error = ErrorCode.SESSION_REVOKED if isinstance(exc, TokenRevoked) else ErrorCode.UNAUTHORIZED
    body = encode_frame(ErrorFrame(data=ErrorData(code=str(error), message=exc.message)))
    return Response(
        body,
        status_code=401 if code == CloseCode.UNAUTHORIZED else 403,
        media_type="application/json",
    )


def _error(code: ErrorCode, message: str) -> bytes:
    return encode_frame(ErrorFrame(data=ErrorData(code=str(code), message=message)))


def _frame(frame: bytes, headers: dict[str, str], status: int = 200) -> Response[bytes]:
    return Response(frame, status_code=status, media_type="application/json", headers=headers)
