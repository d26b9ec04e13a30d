"""The load generator's sockets: agentwire's ``/ws`` and nats-server's WebSocket listener.

Both are bare :class:`asyncio.Protocol` s over :mod:`bench.wsframes`, so a frame costs one pass
over its bytes. Every event lands in the process's :class:`Tally`, which reads the publish
timestamp out of the JSON in place (no decode) and records the latency.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable

from bench import natsproto
from bench.stats import BUCKETS_PER_E, LatencyHistogram
from bench.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    FrameReader,
    client_frame,
    close_payload_code,
    handshake_request,
    parse_handshake_response,
)

__all__ = ["AgentwireSocket", "NatsWsSocket", "Tally", "WsSocket"]

_TIMESTAMP = b'"timestamp":'
_SEQ_PREFIX = b'{"seq":'
_NEXT_EVENT = b',{"seq":'
_CAUGHT_UP = b'"caught_up"'
_NO_WINDOW = (math.inf, -math.inf)


class Tally:
    """Everything one load-generator process counts; shared by all its sockets."""

    __slots__ = (
        "closes",
        "counts",
        "events",
        "hist",
        "lat_from",
        "lat_to",
        "now",
        "rx_from",
        "rx_to",
        "rx_window",
        "total_s",
        "unparsed",
    )

    def __init__(self) -> None:
        self.events = 0  # every event received, ever
        self.unparsed = 0
        self.closes: Counter[int] = Counter()  # close codes the server chose, this window
        self.now = time.time()
        self.set_windows(_NO_WINDOW, _NO_WINDOW)

    def set_windows(self, latency: tuple[float, float], receive: tuple[float, float]) -> None:
        """Record latencies of events published in ``latency``; count receipts in ``receive``."""
        self.lat_from, self.lat_to = latency
        self.rx_from, self.rx_to = receive
        self.closes = Counter()
        self.hist = LatencyHistogram()
        self.counts = self.hist.counts
        self.total_s = 0.0
        self.rx_window = 0

    def event(self, buf: bytearray, start: int, end: int) -> None:
        """One event's JSON in ``buf[start:end]``."""
        i = buf.find(_TIMESTAMP, start, end)
        if i < 0:
            self.unparsed += 1
            return
        i += 12
        j = buf.find(b",", i, end)
        k = buf.find(b"}", i, end)  # the timestamp may close its object
        ts = float(buf[i : k if j < 0 or 0 <= k < j else j])
        self.events += 1
        now = self.now
        if self.rx_from <= now < self.rx_to:
            self.rx_window += 1
        if self.lat_from <= ts < self.lat_to:
            latency = now - ts
            us = latency * 1e6
            index = int(math.log(us) * BUCKETS_PER_E) + 1 if us > 1.0 else 0
            self.counts[index] += 1
            self.total_s += latency

    def histogram(self) -> LatencyHistogram:
        self.hist.n = sum(self.counts)
        self.hist.total_s = self.total_s
        return self.hist


class WsSocket(asyncio.Protocol):
    """A client WebSocket: handshake, then frames into :meth:`message`."""

    def __init__(
        self,
        tally: Tally,
        port: int,
        path: str,
        headers: dict[str, str] | None = None,
        on_read: Callable[[], None] | None = None,
    ) -> None:
        self.tally = tally
        self._request, self._accept = handshake_request("127.0.0.1", port, path, headers)
        self._on_read = on_read
        self._head = bytearray()
        self._reader = FrameReader(self.message, self._control)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()
        self.close_code: int | None = None
        self._closing = False  # we started the close: the server's echo is not its choice

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self.tally.now = time.time()
        if not self.opened.done():
            data = self._handshake(data)
            if not data:
                return
        self._reader.feed(data)
        if self._on_read is not None:
            self._on_read()

    def _handshake(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return b""
        try:
            parse_handshake_response(bytes(self._head[:end]), self._accept)
        except Exception as exc:
            self.opened.set_exception(exc)
            self.abort()
            return b""
        rest = bytes(self._head[end + 4 :])
        self._head = bytearray()
        self.on_open()
        return rest

    def on_open(self) -> None:
        self.opened.set_result(None)

    def message(self, buf: bytearray, start: int, end: int) -> None:
        raise NotImplementedError

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self.send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = close_payload_code(payload)
            if not self._closing:
                self.tally.closes[self.close_code] += 1
            self.send(OP_CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def close(self, code: int = 1000) -> None:
        """Start a clean close; :attr:`closed` resolves when the TCP connection is gone."""
        self._closing = True
        self.send(OP_CLOSE, code.to_bytes(2, "big"))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a tab killed, a network gone)."""
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code or 1006)


class AgentwireSocket(WsSocket):
    """A socket on the gateway's ``/ws``: event frames carry ``"seq":N`` first."""

    def __init__(
        self,
        tally: Tally,
        port: int,
        token: str,
        after_seq: int | None = None,
        on_read: Callable[[], None] | None = None,
    ) -> None:
        path = "/ws" if after_seq is None else f"/ws?after_seq={after_seq}"
        super().__init__(tally, port, path, {"Authorization": f"Bearer {token}"}, on_read)
        self.last_seq = after_seq or 0
        self.first_event_at: float | None = None  # perf_counter of the first event after open
        self.caught_up_at: float | None = None
        self.stale = 0  # events at or below a seq already seen on this socket (duplicates)

    def message(self, buf: bytearray, start: int, end: int) -> None:
        if buf[start] == 0x5B:  # "[": several frames in one (a gateway batching a backlog)
            self._batch(buf, start + 1, end - 1)
        else:
            self._frame(buf, start, end)

    def _batch(self, buf: bytearray, start: int, end: int) -> None:
        # Each event starts with {"seq": and JSON strings cannot hold an unescaped quote, so
        # ',{"seq":' only ever occurs between two events.
        if self.caught_up_at is None and buf.find(_CAUGHT_UP, start, end) >= 0:
            self.caught_up_at = time.perf_counter()  # (stamped before the batch's events)
        while start < end:
            nxt = buf.find(_NEXT_EVENT, start + 1, end)
            stop = end if nxt < 0 else nxt
            self._frame(buf, start, stop)
            start = stop + 1

    def _frame(self, buf: bytearray, start: int, end: int) -> None:
        if buf.startswith(_SEQ_PREFIX, start, end):
            comma = buf.find(b",", start + 7, end)
            seq = int(buf[start + 7 : comma])
            if seq <= self.last_seq:
                self.stale += 1
            self.last_seq = seq
            if self.first_event_at is None:
                self.first_event_at = time.perf_counter()
            self.tally.event(buf, comma, end)
        elif buf.find(_CAUGHT_UP, start, end) >= 0 and self.caught_up_at is None:
            self.caught_up_at = time.perf_counter()


class NatsWsSocket(WsSocket):
    """A NATS client over nats-server's WebSocket listener, subscribed to one subject."""

    def __init__(
        self, tally: Tally, port: int, subject: str, on_read: Callable[[], None] | None = None
    ) -> None:
        super().__init__(tally, port, "/", None, on_read)
        self._subject = subject
        self._nats = natsproto.NatsReader(self._msg, self._send_nats, self._line)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first_event_at: float | None = None

    def on_open(self) -> None:
        super().on_open()
        # The PONG to this PING proves the server has the SUB: that is when the socket is ready.
        self._send_nats(natsproto.CONNECT + natsproto.sub(self._subject, 1) + natsproto.PING)

    def message(self, buf: bytearray, start: int, end: int) -> None:
        self._nats.feed(buf[start:end])

    def _send_nats(self, data: bytes) -> None:
        self.send(OP_BINARY, data)

    def _msg(self, buf: bytearray, start: int, end: int) -> None:
        if self.first_event_at is None:
            self.first_event_at = time.perf_counter()
        self.tally.event(buf, start, end)

    def _line(self, verb: bytes, line: bytes) -> None:
        if verb == b"PONG" and not self.ready.done():
            self.ready.set_result(None)
        elif verb == b"-ERR":
            self.tally.unparsed += 1
