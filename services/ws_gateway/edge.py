"""The ``/ws`` edge: one WebSocket from its upgrade request to its close, without ASGI.

uvicorn parses HTTP (Litestar serves everything that is not a WebSocket) and, for an upgrade
request, hands the socket to :class:`WebSocketEdge` (its ``ws=`` protocol class). From there the
gateway speaks WebSocket itself, on the event loop's transport:

- the ``websockets`` library's sans-I/O :class:`~websockets.server.ServerProtocol` does the
  handshake, parses and unmasks client frames, answers pings, enforces the message size limit
  (1009) and runs the closing handshake;
- outgoing event frames, the hot path, skip it: a server frame is a 2- or 4-byte header and the
  payload, unmasked (RFC 6455 §5.2), so :func:`encode_text_frames` writes a whole backlog as one
  buffer. The edge writes the library's own output (pongs, close) the moment it has any, and
  event frames only between, so the two never interleave within a frame.

Why not uvicorn's WebSocket and Litestar's handler: they cost one ASGI message, three wrappers,
a ``str`` round trip and one ``write`` per event per socket, plus a reader and a writer task per
socket. ``./dev bench`` measured the change alone at 44 -> 33 µs of gateway CPU per event and
41 -> 17.5 KB per idle socket (1,000 users; bench/README.md).

A handshake is, in order:

1. refused with HTTP 404 for any path but ``/ws``, and 403 when its ``Origin`` is not allowed
   (a page on another site trying to use a token it got hold of; see :func:`auth.origin_allowed`);
2. accepted (101), then closed with ``UNAUTHORIZED`` (4401) and a reason when the token is
   missing, invalid or expired, or was put in the URL (``?token=``: URLs end up in logs and
   histories); with ``SESSION_REVOKED`` (4403) when its session was revoked. A browser cannot
   read a refused handshake's HTTP status but does see a close code and reason;
3. served: the session joins the node's hub (its user's live subscription in place), and only
   then does the 101 go out. So when a client's socket opens, every event stored from then on
   reaches it, with or without a resume.

Reading is paused until then, so nothing a client sends early is lost or reordered.
Tokens never reach a log line: only the refusal's reason is logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState
from websockets.server import ServerProtocol

from services.ws_gateway import auth
from services.ws_gateway.authority import TokenRevoked
from services.ws_gateway.guard import Credentials
from services.ws_gateway.metrics import GATEWAY
from services.ws_gateway.session import Session
from services.ws_gateway.session import State as SessionState
from services.ws_gateway.transport import Connection
from shared.errors import CloseCode, Unauthorized

if TYPE_CHECKING:
    from services.ws_gateway.node import Node

__all__ = ["TOKEN_IN_URL_REASON", "WS_PATH", "WebSocketEdge", "encode_text_frames"]

log = logging.getLogger(__name__)
# websockets logs every handshake header at DEBUG, the token among them, and a line per
# connection at INFO: its logger here says only what went wrong, whatever LOG_LEVEL says.
_protocol_log = logging.getLogger(f"{__name__}.websockets")
_protocol_log.setLevel(logging.WARNING)

WS_PATH = "/ws"
TOKEN_IN_URL_REASON = "tokens are refused in the URL; send Authorization or Sec-WebSocket-Protocol"
KEEPALIVE_TIMEOUT_REASON = "keepalive ping timeout"
# RFC 6455 caps a close reason at 123 bytes of UTF-8.
_MAX_REASON_BYTES = 123
_FIN_TEXT = 0x80 | Opcode.TEXT.value
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_NO_CLOSE_FRAME = 1006  # RFC 6455: the connection ended without a close frame
_KNOWN_CLOSE_CODES = frozenset(range(1000, 1016)) | frozenset(CloseCode)


def encode_text_frames(payloads: list[bytes]) -> bytes:
    """Server-to-client text frames (final, unmasked) for ``payloads``, as one buffer."""
    parts: list[bytes] = []
    for payload in payloads:
        size = len(payload)
        if size < 126:
            parts.append(_SHORT.pack(_FIN_TEXT, size))
        elif size < 65_536:
            parts.append(_MEDIUM.pack(_FIN_TEXT, 126, size))
        else:
            parts.append(_LONG.pack(_FIN_TEXT, 127, size))
        parts.append(payload)
    return b"".join(parts)


def _close_code(ws: ServerProtocol) -> str:
    """The code this socket closed with, as a metric label: the one sent first, else the
    peer's, 1006 when no close frame came; a peer's code outside the known ones is "other"
    (a client must not be able to mint label values)."""
    sent, received = ws.close_sent, ws.close_rcvd
    if sent is not None and (received is None or not ws.close_rcvd_then_sent):
        code = sent.code
    elif received is not None:
        code = received.code
    else:
        code = _NO_CLOSE_FRAME
    return str(code) if code in _KNOWN_CLOSE_CODES else "other"


def _select_subprotocol(_: ServerProtocol, offered: Any) -> Any:
    return auth.select_subprotocol(offered)


class WebSocketEdge(asyncio.Protocol):
    """One ``/ws`` socket; uvicorn builds it for an upgrade request (``ws=`` protocol class).

    It is also the connection's :class:`~services.ws_gateway.transport.Sink`.
    """

    def __init__(self, config: Any, server_state: Any, app_state: Any, *, node: Node) -> None:
        self._node = node
        self._connections: set[Any] = server_state.connections
        self._ws = ServerProtocol(
            select_subprotocol=_select_subprotocol,
            max_size=node.settings.max_message_bytes,
            logger=_protocol_log,
        )
        self._transport: asyncio.Transport | None = None
        self._peer = "?"
        self._paused = False  # the transport's buffer is over its high-water mark
        self._lost = False
        self._conn: Connection | None = None
        self._early: list[bytes] = []  # messages that came while the token was being checked
        self._fragments: list[bytes] = []  # a message's frames so far
        self._text = True  # whether that message is text
        self._ping: bytes | None = None  # the payload of the ping awaiting its pong
        self._ping_sent_at = 0.0
        self._accept: Response | None = None  # the 101, held until the socket is served
        self._serving: asyncio.Task[None] | None = None
        self._gone: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._connections.add(self)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self._peer = f"{peer[0]}:{peer[1]}"

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._write_protocol_output()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._write_protocol_output()
        return None

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._conn is not None:
            self._conn.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        self._lost = self._paused = True  # nothing more is written
        # A close the session decided was counted then (transport); count the others here: the
        # peer's, a dropped connection, a refused token, a failed keepalive.
        decided = self._conn is not None and self._conn.session.state is not SessionState.OPEN
        if self._ws.state is not WsState.CONNECTING and not decided:
            GATEWAY.closes.inc(_close_code(self._ws))
        if self._conn is not None:
            self._conn.lost()
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        elif self._serving is not None:
            self._serving.cancel()  # still checking the token: nobody to serve any more

    # The Sink a Connection writes to

    @property
    def writable(self) -> bool:
        return not self._paused and self._ws.state is WsState.OPEN

    def write_frames(self, frames: list[bytes]) -> None:
        if self._transport is not None:
            self._transport.write(encode_text_frames(frames))

    def close(self, code: int, reason: str) -> None:
        if self._ws.state is WsState.OPEN:
            self._ws.send_close(code, reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore"))
            self._write_protocol_output()
            # The peer should answer with its own close frame; one that does not is let go.
            loop = asyncio.get_running_loop()
            loop.call_later(self._node.settings.close_timeout_s, self.abort)

    def abort(self) -> None:
        if self._transport is not None and not self._lost:
            self._transport.abort()

    # Keepalive (driven by the node's one timer for all sockets)

    def keepalive(self, now: float, timeout_s: float) -> None:
        """Ping the peer; fail the socket when the previous ping has waited over ``timeout_s``."""
        if self._ws.state is not WsState.OPEN:
            return
        if self._ping is not None:
            if now - self._ping_sent_at > timeout_s:
                log.info("socket from %s: %s", self._peer, KEEPALIVE_TIMEOUT_REASON)
                self._ws.fail(CloseCode.INTERNAL_ERROR, KEEPALIVE_TIMEOUT_REASON)
                self._write_protocol_output()
            return
        self._ping = os.urandom(4)
        self._ping_sent_at = now
        self._ws.send_ping(self._ping)
        self._write_protocol_output()

    def shutdown(self) -> None:
        """uvicorn's shutdown, for a socket the node did not close first (still handshaking)."""
        if self._conn is None:
            self._open()
            self.close(CloseCode.SERVER_RESTART, "server restarting, reconnect")
            if self._transport is not None:
                self._transport.close()

    # Handshake

    def _handshake(self, request: Request) -> None:
        ws, headers = self._ws, request.headers
        target = urlsplit(request.path)
        origin, allowed = headers.get("Origin"), self._node.settings.allowed_origins
        if target.path != WS_PATH:
            response = ws.reject(404, f"no WebSocket at {target.path[:100]}; use {WS_PATH}\n")
        elif not auth.origin_allowed(origin, headers.get("Host"), allowed):
            refused = (origin or "")[:100]
            log.info("socket from %s refused: origin %r not allowed", self._peer, refused)
            response = ws.reject(403, "this origin may not open a socket here\n")
        else:
            response = ws.accept(request)
        if response.status_code != 101:
            ws.send_response(response)
            self._write_protocol_output()
            if self._transport is not None:
                self._transport.close()
            return
        self._accept = response  # sent once the socket is served (see _open)
        offered = [
            entry
            for header in headers.get_all("Sec-WebSocket-Protocol")
            for entry in header.split(",")
        ]
        handshake = auth.read_handshake(headers, offered)
        query = parse_qs(target.query)
        if self._transport is not None:
            self._transport.pause_reading()  # until the token is checked and the session exists
        self._serving = asyncio.get_running_loop().create_task(
            self._serve(handshake, query), name="ws-serve"
        )

    async def _serve(self, handshake: auth.Handshake, query: dict[str, list[str]]) -> None:
        node = self._node
        settings = node.settings
        try:
            if "token" in query or "access_token" in query:
                raise Unauthorized(TOKEN_IN_URL_REASON)
            claims = await node.authenticate(handshake.token)
        except Unauthorized as exc:
            code = (
                CloseCode.SESSION_REVOKED
                if isinstance(exc, TokenRevoked)
                else CloseCode.UNAUTHORIZED
            )
            log.info("socket from %s refused: %s", self._peer, exc.message)
            self._open()
            self.close(code, exc.message[:120])
            self._resume_reading()  # to read the peer's answering close frame
            return
        credentials = Credentials(
            claims, grace_s=settings.token_expiry_grace_s, warning_s=settings.token_expiry_warning_s
        )
        session = Session(
            claims.user_id, settings.limits, credentials=credentials, rate=settings.rate_limits
        )
        # A resume begins before the socket joins the hub, so that the session holds every live
        # event from its first one; the stream is read only once the user's live subscription is
        # in place: the two overlap instead of leaving a gap between them.
        after_seq, deltas = query.get("after_seq"), query.get("deltas")
        opening = session.open(after_seq[-1] if after_seq else None, deltas[-1] if deltas else None)
        conn = Connection(
            session, self, node, flusher=node.flusher, close_timeout_s=settings.close_timeout_s
        )
        self._gone = asyncio.get_running_loop().create_future()
        try:
            async with node.attached(conn):
                if self._lost:
                    return  # the peer left while the socket was joining the hub
                self._conn = conn
                log.debug("user %s connected from %s", claims.user_id, self._peer)
                self._open()
                conn.flush()  # whatever came for it while it joined (or its close, if turned away)
                conn.start(opening)
                for message in self._early:
                    conn.execute(session.receive(message))
                self._early = []
                self._resume_reading()
                await self._gone
        finally:
            conn.lost()  # idempotent: whatever happened, nothing of this socket's runs on
        log.debug("user %s disconnected (last seq %d)", claims.user_id, session.last_seq)

    def _open(self) -> None:
        """Send the 101 that completes the handshake (the client's ``open`` event)."""
        if self._accept is not None:
            self._ws.send_response(self._accept)
            self._accept = None
            self._write_protocol_output()

    def _resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    # Client frames

    def _frame(self, frame: Frame) -> None:
        match frame.opcode:
            case Opcode.TEXT | Opcode.BINARY:
                self._text = frame.opcode is Opcode.TEXT
                self._fragments = [frame.data]
                if frame.fin:
                    self._message()
            case Opcode.CONT:  # the protocol refuses one that continues nothing
                self._fragments.append(frame.data)
                if frame.fin:
                    self._message()
            case Opcode.PONG:
                if self._ping is not None and frame.data == self._ping:
                    self._ping = None
            case _:
                pass  # PING and CLOSE: the protocol answers them (see _write_protocol_output)

    def _message(self) -> None:
        data = b"".join(self._fragments) if len(self._fragments) > 1 else self._fragments[0]
        self._fragments = []
        if self._text:
            try:
                data.decode()
            except UnicodeDecodeError:
                self._ws.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text frame")
                return
        if self._conn is not None:
            self._conn.execute(self._conn.session.receive(data))
        elif self._serving is not None and not self._serving.done():
            self._early.append(data)  # bounded: reading is paused until the socket is served
        # else: the socket was refused and is closing; nothing it sends matters any more

    def _write_protocol_output(self) -> None:
        """Write what the protocol has to send; close the TCP connection once it is done."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        output = self._ws.data_to_send()
        if output:
            transport.write(b"".join(output))
        if self._ws.state is WsState.CLOSED or (output and output[-1] == b""):
            transport.close()
