"""The streaming scenario's sockets: ``/ws?deltas=1``, every frame decoded and checked.

A socket keeps each message's deltas; when the message's completing ``agent_completed`` arrives
it compares their concatenation with the event's ``result`` (they must be equal, to the byte).
Every stamped token in a delta is a latency sample (:mod:`bench.stream.stamps`), and so is the
delta itself, from its ``data.timestamp`` (set when the writer flushed it) to receipt: the part
of a token's latency spent after coalescing, in JetStream, the gateway and the socket (the rest,
hand-over to flush, is the writer's coalescing and its wait for the previous delta's ack).
Frames are decoded with msgspec, reading only ``type``, ``seq`` and the text fields: at ~25
deltas a second per user this is a small share of a load generator's core.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import msgspec

from bench.clients import Tally, WsSocket
from bench.stats import LatencyHistogram
from bench.stream.stamps import stamped_at

__all__ = ["StreamSocket", "StreamTally", "decode_frames"]


class _Data(msgspec.Struct):
    message_id: str | None = None
    delta: str | None = None
    result: str | None = None
    timestamp: float = 0.0  # when the publisher built the event (a delta: when it flushed)


class Frame(msgspec.Struct):
    type: str = ""
    seq: int = 0
    data: _Data | None = None
    events: list[Frame] | None = None  # a run_snapshot's


_decode_one = msgspec.json.Decoder(Frame).decode
_decode_many = msgspec.json.Decoder(list[Frame]).decode


def decode_frames(payload: bytes | bytearray | memoryview) -> list[Frame]:
    """One WebSocket message's frames: an object, or an array of them (a batched backlog)."""
    if bytes(payload[:1]) == b"[":
        return _decode_many(payload)
    return [_decode_one(payload)]


class StreamTally(Tally):
    """What one load-generator process counts over all its sockets."""

    __slots__ = (
        "bytes",
        "coalesce_hist",
        "completed",
        "flush_hist",
        "lat_max_s",
        "matched",
        "mismatched",
        "out_of_order",
        "tokens",
        "tokens_rx_window",
        "types",
    )

    def __init__(self) -> None:
        super().__init__()
        self.types: Counter[str] = Counter()  # frames by type, ever
        self.tokens = 0  # stamped tokens received, ever
        self.bytes = 0  # payload bytes received, ever
        self.completed = self.matched = self.mismatched = self.out_of_order = 0

    def set_windows(self, latency: tuple[float, float], receive: tuple[float, float]) -> None:
        super().set_windows(latency, receive)
        self.tokens_rx_window = 0
        self.lat_max_s = 0.0
        self.flush_hist = LatencyHistogram()  # a delta's own timestamp -> receipt
        self.coalesce_hist = LatencyHistogram()  # a token's hand-over -> its delta's timestamp

    def histogram(self) -> LatencyHistogram:
        return self.hist  # filled by ``add`` (count and total included), unlike the base's

    def delta(self, text: str, flushed_at: float) -> None:
        now = self.now
        if self.lat_from <= flushed_at < self.lat_to:
            self.flush_hist.add(now - flushed_at)
        stamps = stamped_at(text)
        self.tokens += len(stamps)
        if self.rx_from <= now < self.rx_to:
            self.tokens_rx_window += len(stamps)
        for stamp in stamps:
            if self.lat_from <= stamp < self.lat_to:
                latency = now - stamp
                self.hist.add(latency)
                self.coalesce_hist.add(max(0.0, flushed_at - stamp))
                self.lat_max_s = max(self.lat_max_s, latency)

    def frame(self, kind: str) -> None:
        self.types[kind] += 1
        self.events += 1
        if self.rx_from <= self.now < self.rx_to:
            self.rx_window += 1


class StreamSocket(WsSocket):
    """One user's ``/ws?deltas=1`` (``after_seq`` for a resume)."""

    def __init__(
        self,
        tally: StreamTally,
        port: int,
        token: str,
        after_seq: int | None = None,
        on_read: Callable[[], None] | None = None,
        record: bool = False,
    ) -> None:
        path = "/ws?deltas=1" + ("" if after_seq is None else f"&after_seq={after_seq}")
        super().__init__(tally, port, path, {"Authorization": f"Bearer {token}"}, on_read)
        self.stream_tally = tally
        self.last_seq = after_seq or 0
        self.texts: dict[str, list[str]] = {}
        self.results: list[str] = []  # each agent_completed's result, in order
        self.completed = 0
        self.events: Counter[str] = Counter()  # events received by type, snapshots' included
        self.bytes = 0
        self.record = record
        self.resuming = after_seq is not None  # a resume records only until caught_up
        self.frames: list[tuple[str, int]] = []  # (type, payload bytes) when recording
        self.caught_up_at: float | None = None
        self.bytes_at_caught_up: int | None = None

    def message(self, buf: bytearray, start: int, end: int) -> None:
        size = end - start
        self.bytes += size
        self.stream_tally.bytes += size
        frames = decode_frames(memoryview(buf)[start:end])
        if self.record and not (self.resuming and self.bytes_at_caught_up is not None):
            self.frames.append((frames[0].type if len(frames) == 1 else "[batch]", size))
        for frame in frames:
            self._frame(frame)
        if self.caught_up_at is not None and self.bytes_at_caught_up is None:
            self.bytes_at_caught_up = self.bytes

    def _frame(self, frame: Frame) -> None:
        tally = self.stream_tally
        kind = frame.type
        if frame.seq:
            if frame.seq <= self.last_seq:
                tally.out_of_order += 1
            self.last_seq = frame.seq
            self.events[kind] += 1
            tally.frame(kind)
        data = frame.data
        if kind == "message_delta" and data is not None and data.delta is not None:
            self.texts.setdefault(data.message_id or "", []).append(data.delta)
            tally.delta(data.delta, data.timestamp)
        elif kind == "agent_completed" and data is not None:
            self._completed(data)
        elif kind == "run_snapshot":
            for event in frame.events or ():
                self._frame(event)
        elif kind == "caught_up" and self.caught_up_at is None:
            self.caught_up_at = time.perf_counter()

    def _completed(self, data: _Data) -> None:
        tally = self.stream_tally
        result = data.result or ""
        self.results.append(result)
        self.completed += 1
        tally.completed += 1
        streamed = "".join(self.texts.pop(data.message_id or "", ()))
        if streamed == result:
            tally.matched += 1
        else:
            tally.mismatched += 1

    def text_of(self, message_id: str) -> str:
        return "".join(self.texts.get(message_id, ()))
