"""What one load-generator process saw of the runs it asked for, checked frame by frame (sans I/O).

The rules come from docs/protocol.md, and each broken one is counted, never raised:

- on one socket ``seq`` rises strictly: a seq seen before is *doubled*, a lower one never seen
  before is *out of order*;
- a run's first event is ``agent_started``; it has exactly one terminal event and that is last
  (an event after it is *after terminal*, a second terminal is *second terminal*);
- every ``tool_executing`` has its ``tool_completed`` (same ``tool_call_id``) before the end.

What a socket cannot see by itself, an event the stream holds that never arrived, is *lost*: the
bench finds it by comparing each socket's seqs with the stream (:mod:`bench.runs.streamcheck`).

Only ``run_accepted.run_id``/``client_msg_id`` and the events' ``run_id``/``seq`` are relied on:
the order of ``run_accepted`` and the run's first event is not, nor any other field of
``run_accepted``. An ``error`` frame names no message, so it answers the socket's oldest
unanswered one (the load generator keeps one submit in flight per user when it can).
"""

from __future__ import annotations

from array import array
from collections import Counter, deque
from dataclasses import dataclass, field

import msgspec

from bench.stats import LatencyHistogram

__all__ = [
    "PROBLEMS",
    "TERMINAL_TYPES",
    "Checker",
    "Frame",
    "Message",
    "Run",
    "SocketView",
    "Tally",
    "decode_frame",
]

TERMINAL_TYPES = frozenset({"agent_completed", "agent_failed", "agent_cancelled"})
# Every kind of broken rule the checker counts; the report shows each (all must stay 0).
PROBLEMS = (
    "doubled",  # a seq this socket had already received
    "out_of_order",  # a seq below the socket's last one, not received before
    "not_started_first",  # a run whose first event is not agent_started
    "after_terminal",  # an event of a run after its terminal event
    "second_terminal",  # a second terminal event for one run
    "unpaired_tool_call",  # a tool_executing without its tool_completed at the end, or vice versa
    "unknown_accept",  # a run_accepted for a client_msg_id this process never sent
    "accept_after_error",  # a run_accepted for a message already answered with an error
)


class FrameData(msgspec.Struct):
    timestamp: float | None = None
    code: str | None = None
    tool_call_id: str | None = None


class Frame(msgspec.Struct):
    """The fields of a server frame the bench reads; everything else is skipped."""

    type: str
    seq: int | None = None
    run_id: str | None = None
    client_msg_id: str | None = None
    data: FrameData | None = None


decode_frame = msgspec.json.Decoder(Frame).decode


@dataclass(slots=True)
class Message:
    """One ``message`` frame sent, and how it was answered."""

    msg_id: str
    phase: str
    due_at: float  # when the schedule wanted it sent
    sent_at: float
    answered_at: float | None = None
    run_id: str | None = None
    error: str | None = None  # the code of the error frame that answered it
    resolved: bool = False  # answered with an error, or its run has ended


@dataclass(slots=True)
class Run:
    """One run as this process heard it: its message (if it was ours) and its events."""

    run_id: str
    phase: str  # the phase in which it was first heard of
    message: Message | None = None
    started_at: float | None = None
    ended_at: float | None = None
    terminal: str | None = None
    failure: str | None = None  # agent_failed's code
    events: int = 0
    open_tools: set[str] = field(default_factory=set)


@dataclass(slots=True)
class SocketView:
    """One socket: the seqs it received, in order, and its unanswered messages."""

    user_id: str
    last_seq: int = 0
    seqs: array = field(default_factory=lambda: array("q"))
    pending: deque[Message] = field(default_factory=deque)


@dataclass(slots=True)
class Tally:
    """What is counted as frames arrive, for the phase under way."""

    phase: str = ""
    window: tuple[float, float] = (0.0, 0.0)  # events published in it count for delivery latency
    delivery: LatencyHistogram = field(default_factory=LatencyHistogram)
    events: int = 0
    unparsed: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # error frames by code


class Checker:
    """Every message and run of one load-generator process; frames go in through :meth:`frame`."""

    def __init__(self) -> None:
        self.tally = Tally()
        self.messages: dict[str, Message] = {}
        self.by_phase: dict[str, list[Message]] = {}
        self.runs: dict[str, Run] = {}
        self.outstanding: Counter[str] = Counter()  # unresolved messages, by phase

    def start_phase(self, phase: str, window: tuple[float, float]) -> Tally:
        self.tally = Tally(phase=phase, window=window)
        return self.tally

    def sent(self, sock: SocketView, message: Message) -> None:
        self.messages[message.msg_id] = message
        self.by_phase.setdefault(message.phase, []).append(message)
        self.outstanding[message.phase] += 1
        sock.pending.append(message)

    def _resolve(self, message: Message) -> None:
        if not message.resolved:
            message.resolved = True
            self.outstanding[message.phase] -= 1

    def raw(self, sock: SocketView, payload: bytes | bytearray, now: float) -> None:
        try:
            frame = decode_frame(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.tally.unparsed += 1
            return
        self.frame(sock, frame, now)

    def frame(self, sock: SocketView, frame: Frame, now: float) -> None:
        if frame.seq is not None and frame.run_id is not None:
            self._event(sock, frame, now)
        elif frame.type == "run_accepted":
            self._accepted(sock, frame, now)
        elif frame.type == "error":
            code = frame.data.code if frame.data is not None else None
            self._error(sock, code or "unknown", now)

    def _accepted(self, sock: SocketView, frame: Frame, now: float) -> None:
        message = self.messages.get(frame.client_msg_id or "")
        if message is None or frame.run_id is None:
            self.tally.problems["unknown_accept"] += 1
            return
        if message.error is not None:
            self.tally.problems["accept_after_error"] += 1
        try:
            sock.pending.remove(message)
        except ValueError:
            pass
        message.answered_at = message.answered_at or now
        message.run_id = frame.run_id
        run = self._run(frame.run_id)
        run.message = message
        if run.ended_at is not None and message.error is None:  # its end came first
            self._resolve(message)

    def _error(self, sock: SocketView, code: str, now: float) -> None:
        self.tally.errors[code] += 1
        if sock.pending:
            message = sock.pending.popleft()
            message.error = code
            message.answered_at = now
            self._resolve(message)

    def _event(self, sock: SocketView, frame: Frame, now: float) -> None:
        seq = frame.seq
        assert seq is not None and frame.run_id is not None
        tally = self.tally
        tally.events += 1
        if seq <= sock.last_seq:
            tally.problems["doubled" if seq in sock.seqs else "out_of_order"] += 1
        else:
            sock.last_seq = seq
        sock.seqs.append(seq)
        data = frame.data
        if data is not None and data.timestamp is not None:
            if tally.window[0] <= data.timestamp < tally.window[1]:
                tally.delivery.add(now - data.timestamp)
        self._run_event(self._run(frame.run_id), frame.type, data, now)

    def _run_event(self, run: Run, kind: str, data: FrameData | None, now: float) -> None:
        problems = self.tally.problems
        if run.events == 0 and kind != "agent_started":
            problems["not_started_first"] += 1
        run.events += 1
        if run.terminal is not None:
            problems["second_terminal" if kind in TERMINAL_TYPES else "after_terminal"] += 1
            return
        if kind == "agent_started":
            run.started_at = run.started_at or now
        elif kind == "tool_executing" and data is not None and data.tool_call_id:
            run.open_tools.add(data.tool_call_id)
        elif kind == "tool_completed" and data is not None and data.tool_call_id:
            if data.tool_call_id in run.open_tools:
                run.open_tools.discard(data.tool_call_id)
            else:
                problems["unpaired_tool_call"] += 1
        elif kind in TERMINAL_TYPES:
            run.terminal = kind
            run.ended_at = now
            if kind == "agent_failed" and data is not None:
                run.failure = data.code or "unknown"
            if run.open_tools:
                problems["unpaired_tool_call"] += len(run.open_tools)
            if run.message is not None and run.message.error is None:
                self._resolve(run.message)

    def _run(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            run = self.runs[run_id] = Run(run_id=run_id, phase=self.tally.phase)
        return run

    def unresolved(self, phase: str) -> int:
        """Messages of ``phase`` not yet answered, or accepted with their run not yet ended."""
        return self.outstanding[phase]
