"""Streamed text, compacted: what a socket gets instead of every stored delta. Sans I/O.

A streamed message is stored as ``message_started``, many ``message_delta`` events and the event
that completes it with the whole text (``agent_thinking`` / ``agent_completed`` naming its
``message_id``); a long tool stores ``tool_progress`` events. Live, a ``deltas=1`` socket gets
them all; replayed, most are redundant (docs/protocol.md, "Streamed text"):

- :class:`ReplayPlan` + :class:`Compactor`: a resume replay in two passes over the same range.
  The plan reads it first and notes which messages complete in it, where each open message's last
  delta is, which tools finished and where each running tool's newest progress is. The replay then
  drops a completed message's start and deltas, folds an open message's deltas into one at the
  place (and ``seq``) of its last, and keeps only a running tool's newest progress. Two passes
  because a page cannot know what later pages hold, and the replay must stay in ``seq`` order
  and paced by the socket (pages are sent as the client reads). A range that fits one page is
  read once.
- :class:`RunHistory`: whole runs folded in memory, for ``run_snapshot`` (a snapshot on join,
  ``run_events``): one frame per run, so nothing is paced per event.

Other events pass through untouched. Readers decode only an event's type and ids (msgspec skips
the rest), and only for the types that need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from services.ws_gateway.framing import with_seq
from shared.wire.events import (
    STREAM_TYPES,
    TERMINAL_TYPES,
    MessageDelta,
    MessageDeltaData,
    ToolCompleted,
    encode_event,
)
from shared.wire.frames import RunSnapshot, encode_frame

__all__ = [
    "SNAPSHOT_RESULT_MAX_BYTES",
    "Compactor",
    "ReplayPlan",
    "RunHistory",
    "event_type",
    "is_stream_event",
]

# A snapshot is one frame per run: a run with a few huge tool results would make one larger than
# a socket's send-queue bound (and a client closed as too slow would get the same frame again).
# In a snapshot a tool_completed over this size carries ``result: null, truncated: true``; the
# whole event stays in the log for a resume.
SNAPSHOT_RESULT_MAX_BYTES = 64 * 1024

_TYPE_PREFIX = b'{"type":"'
_COMPLETING = frozenset({"agent_thinking", "agent_completed"})
_STREAM_PREFIXES = tuple(_TYPE_PREFIX + kind.encode() + b'"' for kind in STREAM_TYPES)


class _Ids(msgspec.Struct):
    message_id: str | None = None
    tool_call_id: str | None = None


class _Head(msgspec.Struct):
    run_id: str = ""
    thread_id: str = ""
    data: _Ids = msgspec.field(default_factory=_Ids)


_decode_head = msgspec.json.Decoder(_Head).decode
_decode_delta = msgspec.json.Decoder(MessageDelta).decode
_decode_completed = msgspec.json.Decoder(ToolCompleted).decode


def is_stream_event(payload: bytes) -> bool:
    """A ``message_started``, ``message_delta`` or ``tool_progress`` (the hot path: no parse).

    Producers encode events with ``shared.wire.events.encode_event``, which writes the ``type``
    tag first; anything else is treated as an ordinary event (shown, never hidden by mistake
    as a delta)."""
    return payload.startswith(_STREAM_PREFIXES)


def event_type(payload: bytes) -> str:
    """The ``type`` of an encoded event ('' when it does not start with it)."""
    if not payload.startswith(_TYPE_PREFIX):
        return ""
    end = payload.find(b'"', len(_TYPE_PREFIX))
    return payload[len(_TYPE_PREFIX) : end].decode() if end > 0 else ""


def _head(payload: bytes) -> _Head:
    try:
        return _decode_head(payload)
    except msgspec.DecodeError:
        return _Head()


@dataclass(slots=True)
class ReplayPlan:
    """What the first pass learnt of a replayed range (up to ``upto``)."""

    upto: int = 0
    completed: set[str] = field(default_factory=set)  # message ids completed in the range
    last_delta: dict[str, int] = field(default_factory=dict)  # message id -> seq
    finished_tools: set[str] = field(default_factory=set)
    last_progress: dict[str, int] = field(default_factory=dict)  # tool call id -> seq

    def scan(self, events: list[tuple[int, bytes]]) -> None:
        for seq, payload in events:
            self.upto = max(self.upto, seq)
            kind = event_type(payload)
            if kind == "message_delta":
                message_id = _head(payload).data.message_id
                if message_id:
                    self.last_delta[message_id] = seq
            elif kind in _COMPLETING:
                message_id = _head(payload).data.message_id
                if message_id:
                    self.completed.add(message_id)
            elif kind == "tool_progress":
                call_id = _head(payload).data.tool_call_id
                if call_id:
                    self.last_progress[call_id] = seq
            elif kind == "tool_completed":
                call_id = _head(payload).data.tool_call_id
                if call_id:
                    self.finished_tools.add(call_id)


class Compactor:
    """The second pass: each stored event as the socket gets it, or None (left out)."""

    def __init__(self, plan: ReplayPlan) -> None:
        self._plan = plan
        self._text: dict[str, list[str]] = {}  # an open message's deltas so far in the range

    def apply(self, seq: int, payload: bytes) -> bytes | None:
        plan = self._plan
        if seq > plan.upto or not is_stream_event(payload):
            return payload  # past what the plan read, or not a stream event: as stored
        match event_type(payload):
            case "message_started":
                return None if _head(payload).data.message_id in plan.completed else payload
            case "message_delta":
                return self._delta(seq, payload)
            case _:  # tool_progress
                call_id = _head(payload).data.tool_call_id or ""
                if call_id in plan.finished_tools or plan.last_progress.get(call_id) != seq:
                    return None
                return payload

    def _delta(self, seq: int, payload: bytes) -> bytes | None:
        try:
            delta = _decode_delta(payload)
        except msgspec.DecodeError:
            return payload
        message_id = delta.data.message_id
        if message_id in self._plan.completed:
            return None
        pieces = self._text.setdefault(message_id, [])
        pieces.append(delta.data.delta)
        if self._plan.last_delta.get(message_id) != seq:
            return None
        del self._text[message_id]
        return _merged(delta, pieces)


def _merged(last: MessageDelta, pieces: list[str]) -> bytes:
    if len(pieces) == 1:
        return encode_event(last)
    data = MessageDeltaData(
        message_id=last.data.message_id, delta="".join(pieces), timestamp=last.data.timestamp
    )
    return encode_event(MessageDelta(run_id=last.run_id, thread_id=last.thread_id, data=data))


@dataclass(slots=True)
class _Run:
    thread_id: str
    entries: list[tuple[int, bytes] | None] = field(default_factory=list)
    ended: bool = False
    started_at: dict[str, int] = field(default_factory=dict)  # message id -> entry index
    delta_at: dict[str, int] = field(default_factory=dict)  # message id -> its merged delta's
    texts: dict[str, list[str]] = field(default_factory=dict)
    last_deltas: dict[str, MessageDelta] = field(default_factory=dict)
    progress_at: dict[str, int] = field(default_factory=dict)  # tool call id -> entry index

    def add(self, seq: int, payload: bytes) -> None:
        kind = event_type(payload)
        if kind == "message_delta":
            self._delta(seq, payload)
            return
        head = _head(payload) if kind in _FOLDED else None
        if kind == "message_started" and head is not None and head.data.message_id:
            self.started_at[head.data.message_id] = len(self.entries)
        elif kind in _COMPLETING and head is not None and head.data.message_id:
            self._drop(self.started_at.pop(head.data.message_id, None))
            self._drop(self.delta_at.pop(head.data.message_id, None))
            self.texts.pop(head.data.message_id, None)
        elif kind in ("tool_progress", "tool_completed") and head is not None:
            self._drop(self.progress_at.pop(head.data.tool_call_id or "", None))
            if kind == "tool_progress":
                self.progress_at[head.data.tool_call_id or ""] = len(self.entries)
        if kind in TERMINAL_TYPES:
            self.ended = True
        self.entries.append((seq, payload))

    def frames(self) -> list[bytes]:
        merged_at = {index: message_id for message_id, index in self.delta_at.items()}
        out: list[bytes] = []
        for index, entry in enumerate(self.entries):
            if entry is None:
                continue
            seq, payload = entry
            message_id = merged_at.get(index)
            if message_id is not None:
                payload = _merged(self.last_deltas[message_id], self.texts[message_id])
            elif len(payload) > SNAPSHOT_RESULT_MAX_BYTES:
                payload = _truncated(payload)
            out.append(with_seq(seq, payload))
        return out

    def _delta(self, seq: int, payload: bytes) -> None:
        try:
            delta = _decode_delta(payload)
        except msgspec.DecodeError:
            return
        message_id = delta.data.message_id
        self._drop(self.delta_at.get(message_id))
        self.texts.setdefault(message_id, []).append(delta.data.delta)
        self.last_deltas[message_id] = delta
        self.delta_at[message_id] = len(self.entries)
        self.entries.append((seq, payload))

    def _drop(self, index: int | None) -> None:
        if index is not None:
            self.entries[index] = None


def _truncated(payload: bytes) -> bytes:
    """A tool_completed too big for a snapshot, without its result (other events as they are)."""
    if event_type(payload) != "tool_completed":
        return payload
    try:
        event = _decode_completed(payload)
    except msgspec.DecodeError:
        return payload
    data = msgspec.structs.replace(event.data, result=None, truncated=True)
    return encode_event(msgspec.structs.replace(event, data=data))


_FOLDED = frozenset({"message_started", "tool_progress", "tool_completed", *_COMPLETING})


class RunHistory:
    """Runs folded from their stored events, as ``run_snapshot`` frames.

    ``run_id``: fold only that run (``run_events``); otherwise every run met, and
    :meth:`snapshots` gives those that have not ended (a snapshot on join)."""

    def __init__(self, run_id: str | None = None) -> None:
        self._only = run_id
        self._runs: dict[str, _Run] = {}

    def feed(self, events: list[tuple[int, bytes]]) -> None:
        for seq, payload in events:
            head = _head(payload)
            if not head.run_id or (self._only is not None and head.run_id != self._only):
                continue
            run = self._runs.get(head.run_id)
            if run is None:
                run = self._runs[head.run_id] = _Run(head.thread_id)
            run.add(seq, payload)
            if run.ended and self._only is None:
                del self._runs[head.run_id]  # a snapshot on join shows runs under way only

    def snapshots(self, upto_seq: int) -> list[bytes]:
        return [self._frame(run_id, run, upto_seq) for run_id, run in self._runs.items()]

    def snapshot(self, run_id: str, upto_seq: int) -> bytes:
        return self._frame(run_id, self._runs.get(run_id) or _Run(""), upto_seq)

    @staticmethod
    def _frame(run_id: str, run: _Run, upto_seq: int) -> bytes:
        events = [msgspec.Raw(frame) for frame in run.frames()]
        snapshot = RunSnapshot(
            run_id=run_id, thread_id=run.thread_id, upto_seq=upto_seq, events=events
        )
        return encode_frame(snapshot)
