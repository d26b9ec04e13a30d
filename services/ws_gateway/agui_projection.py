"""One agentwire run as AG-UI 1.0 events: sans I/O, fed the run's stored events in log order.

    message_started (thinking)        -> REASONING_MESSAGE_START
    message_started (answer)          -> TEXT_MESSAGE_START (role assistant)
    message_delta                     -> REASONING_/TEXT_MESSAGE_CONTENT
    agent_thinking                    -> REASONING_MESSAGE_END (a streamed thought), or the whole
                                         thought as START + CONTENT + END
    tool_executing                    -> TOOL_CALL_START + TOOL_CALL_ARGS (the parameters, JSON)
                                         + TOOL_CALL_END
    tool_progress                     -> ACTIVITY_SNAPSHOT ``tool_progress``, one per tool call
    tool_completed                    -> TOOL_CALL_RESULT (the result, or {"error": …}, as JSON)
    approval_requested                -> RUN_FINISHED, outcome interrupt (open messages closed)
    agent_completed                   -> TEXT_MESSAGE_END (or the whole answer), RUN_FINISHED
    agent_cancelled                   -> RUN_FINISHED, outcome cancelled
    agent_failed                      -> RUN_ERROR {message, code}

**Positions.** Every frame has an id, its place in the user's log: ``<seq>`` for the last (or
only) frame made from the event at ``seq``, ``<seq>.<k>`` for the k-th before it. A client that
lost its stream sends the last id it got back as ``Last-Event-ID`` (a :class:`Cursor`); the
projection is deterministic, so feeding the run again from its first event and keeping only the
frames after the cursor (:class:`Delivery`) continues exactly where the stream broke: nothing
lost, nothing doubled, and every message the client has open still open.

**Interrupts.** AG-UI has no channel into a running run, so an approval ends the AG-UI run
(``RUN_FINISHED`` with an interrupt whose id is :func:`interrupt_id`) while the agentwire run
waits. The next request answers it (``resume[]``) and continues the *same* agentwire run under
the new AG-UI run id: a :class:`Delivery` resumed at the approval's seq.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, auto
from typing import Any

from services.ws_gateway import agui_wire as w
from shared.wire import events as e

__all__ = [
    "APPROVAL_SCHEMA",
    "Cursor",
    "Delivery",
    "Frame",
    "Phase",
    "Projection",
    "interrupt_id",
    "parse_interrupt_id",
]

# What an interrupt's answer (a resume entry's payload) looks like; sent with every interrupt.
APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "reason": {"type": "string"}},
    "required": ["approved"],
}
_TERMINAL = (w.RunFinished, w.RunError)


def interrupt_id(run_id: str, approval_id: str) -> str:
    """An approval as an AG-UI interrupt id: it names the run, so a resume needs no lookup."""
    return f"{run_id}.{approval_id}"


def parse_interrupt_id(value: str) -> tuple[str, str] | None:
    """``(run_id, approval_id)`` of an interrupt id; None if it is not one of ours."""
    run_id, dot, approval_id = value.partition(".")
    return (run_id, approval_id) if dot and run_id and approval_id else None


@dataclass(frozen=True, slots=True)
class Cursor:
    """A place in a stream: every frame up to frame ``part`` of the event at ``seq`` (all of them
    when ``part`` is None)."""

    seq: int
    part: int | None = None

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        seq, dot, part = text.strip().partition(".")
        if not seq.isdigit() or (dot and not part.isdigit()):
            return None
        return cls(int(seq), int(part) if dot else None)

    def __str__(self) -> str:
        return str(self.seq) if self.part is None else f"{self.seq}.{self.part}"

    def passed(self, seq: int, part: int | None) -> bool:
        """Whether the frame at (``seq``, ``part``) comes after this place."""
        if seq != self.seq:
            return seq > self.seq
        if self.part is None:
            return False
        return part is None or part > self.part


@dataclass(frozen=True, slots=True)
class Frame:
    """One AG-UI event and its position (``part`` None: the last frame of its seq)."""

    seq: int
    part: int | None
    event: w.AguiEvent

    @property
    def id(self) -> str:
        return str(Cursor(self.seq, self.part))

    @property
    def terminal(self) -> bool:
        return isinstance(self.event, _TERMINAL)


class Phase(Enum):
    RUNNING = auto()
    INTERRUPTED = auto()  # an approval ended the AG-UI run; the agentwire run waits
    ENDED = auto()  # the agentwire run's terminal event was projected


@dataclass(slots=True)
class _Message:
    reasoning: bool
    open: bool


class Projection:
    """The AG-UI events of agentwire run ``run_id``, reported as AG-UI run ``agui_run_id``."""

    def __init__(self, thread_id: str, run_id: str, agui_run_id: str) -> None:
        self.thread_id, self.run_id, self.agui_run_id = thread_id, run_id, agui_run_id
        self.phase = Phase.RUNNING
        self.interrupted_at = 0  # the seq of the approval that interrupted it last
        self._messages: dict[str, _Message] = {}

    def started(self, seq: int, timestamp: float | None = None) -> Frame:
        """``RUN_STARTED``, placed at ``seq`` (where the stream begins)."""
        event = w.RunStarted(
            thread_id=self.thread_id,
            run_id=self.agui_run_id,
            protocol_version=w.PROTOCOL_VERSION,
            timestamp=_ms(timestamp),
        )
        return Frame(seq, None, event)

    def feed(self, seq: int, event: e.AnyEvent) -> list[Frame]:
        """The frames the event at ``seq`` makes (none once the run has ended)."""
        if self.phase is Phase.ENDED or event.run_id != self.run_id:
            return []
        self.phase = Phase.RUNNING  # an event after an interrupt: the run went on
        made = self._project(seq, event)
        for made_event in made:
            made_event.timestamp = _ms(event.data.timestamp)
        last = len(made) - 1
        return [
            Frame(seq, None if k == last else k, made_event) for k, made_event in enumerate(made)
        ]

    def _project(self, seq: int, event: e.AnyEvent) -> list[w.AguiEvent]:
        match event:
            case e.MessageStarted(data=data):
                return self._open(data.message_id, reasoning=data.kind == "thinking")
            case e.MessageDelta(data=data):
                return self._delta(data.message_id, data.delta)
            case e.AgentThinking(data=data):
                return self._whole(
                    data.message_id or f"{self.run_id}-thought-{seq}", data.thought, True
                )
            case e.ToolExecuting(data=data):
                return _tool_call(data)
            case e.ToolProgress(data=data):
                return [_progress(data)]
            case e.ToolCompleted(data=data):
                return [_result(data)]
            case e.ApprovalRequested(data=data):
                self.phase, self.interrupted_at = Phase.INTERRUPTED, seq
                return [*self._close_all(), self._interrupted(data)]
            case e.AgentCompleted(data=data):
                answer = self._whole(data.message_id or f"{self.run_id}-answer", data.result, False)
                return [*answer, *self._end(w.Success(), data.usage)]
            case e.AgentCancelled(data=data):
                return self._end(w.Cancelled(), data.usage)
            case e.AgentFailed(data=data):
                closing = self._close_all()
                self.phase = Phase.ENDED
                usage = _usage(data.usage)
                return [*closing, w.RunError(message=data.message, code=data.code, usage=usage)]
        return []  # agent_started, approval_resolved, and types this gateway does not know

    # Messages

    def _open(self, message_id: str, *, reasoning: bool) -> list[w.AguiEvent]:
        message = self._messages.setdefault(message_id, _Message(reasoning, open=False))
        if message.open:
            return []
        message.open = True
        if message.reasoning:
            return [w.ReasoningStart(message_id=message_id, role="reasoning")]
        return [w.TextStart(message_id=message_id, role="assistant")]

    def _delta(self, message_id: str, delta: str) -> list[w.AguiEvent]:
        message = self._messages.get(message_id)
        if message is None or not delta:  # no message_started: nothing to say it belongs to
            return []
        opening = self._open(message_id, reasoning=message.reasoning)  # reopened after a pause
        if message.reasoning:
            return [*opening, w.ReasoningContent(message_id=message_id, delta=delta)]
        return [*opening, w.TextContent(message_id=message_id, delta=delta)]

    def _whole(self, message_id: str, text: str, reasoning: bool) -> list[w.AguiEvent]:
        """The event completing a message: its end if it was streamed, else all of it."""
        message = self._messages.get(message_id)
        if message is not None:
            return [self._close(message_id, message)] if message.open else []
        opening = self._open(message_id, reasoning=reasoning)
        content = self._delta(message_id, text)
        return [*opening, *content, self._close(message_id, self._messages[message_id])]

    def _close(self, message_id: str, message: _Message) -> w.AguiEvent:
        message.open = False
        if message.reasoning:
            return w.ReasoningEnd(message_id=message_id)
        return w.TextEnd(message_id=message_id)

    def _close_all(self) -> list[w.AguiEvent]:
        return [self._close(mid, m) for mid, m in self._messages.items() if m.open]

    # Endings

    def _end(
        self, outcome: w.Success | w.Cancelled, usage: e.TokenUsage | None
    ) -> list[w.AguiEvent]:
        closing = self._close_all()
        self.phase = Phase.ENDED
        finished = w.RunFinished(
            thread_id=self.thread_id, run_id=self.agui_run_id, outcome=outcome, usage=_usage(usage)
        )
        return [*closing, finished]

    def _interrupted(self, data: e.ApprovalRequestedData) -> w.RunFinished:
        asking = f"Allow {data.tool_name} {_json(data.parameters)}? {data.reason}".strip()
        interrupt = w.Interrupt(
            id=interrupt_id(self.run_id, data.approval_id),
            reason="tool_approval" if data.tool_name else "question",
            message=data.question or asking,
            tool_call_id=data.tool_call_id or None,
            response_schema=APPROVAL_SCHEMA,
            expires_at=datetime.fromtimestamp(data.expires_at, UTC).isoformat(),
        )
        outcome = w.Interrupted(interrupts=[interrupt])
        return w.RunFinished(thread_id=self.thread_id, run_id=self.agui_run_id, outcome=outcome)


@dataclass(slots=True)
class Delivery:
    """What one HTTP response carries of a projection: the frames after ``cursor``, until the
    AG-UI run it reports ends. ``resumed_at``: the approval's seq this response resumes from."""

    projection: Projection
    cursor: Cursor
    resumed_at: int | None = None
    _fed_to: int = 0

    def feed(self, seq: int, event: e.AnyEvent) -> list[Frame]:
        """The frames to send for the event at ``seq``."""
        if self.finished:
            return []
        self._fed_to = max(self._fed_to, seq)
        return [f for f in self.projection.feed(seq, event) if self.cursor.passed(f.seq, f.part)]

    @property
    def finished(self) -> bool:
        """Past the cursor, the AG-UI run ended: its terminal frame was sent (now or before)."""
        if self._fed_to < self.cursor.seq:
            return False  # still replaying what the client already has
        phase = self.projection.phase
        if phase is Phase.INTERRUPTED:
            return self.projection.interrupted_at != self.resumed_at
        return phase is Phase.ENDED


# Pieces


def _tool_call(data: e.ToolExecutingData) -> list[w.AguiEvent]:
    call_id = data.tool_call_id
    return [
        w.ToolCallStart(tool_call_id=call_id, tool_call_name=data.tool_name),
        w.ToolCallArgs(tool_call_id=call_id, delta=_json(data.parameters)),
        w.ToolCallEnd(tool_call_id=call_id),
    ]


def _progress(data: e.ToolProgressData) -> w.ActivitySnapshot:
    content: dict[str, Any] = {"toolCallId": data.tool_call_id, "toolName": data.tool_name}
    if data.progress is not None:
        content["progress"] = data.progress
    if data.message is not None:
        content["message"] = data.message
    message_id = f"{data.tool_call_id}-progress"
    return w.ActivitySnapshot(message_id=message_id, activity_type="tool_progress", content=content)


def _result(data: e.ToolCompletedData) -> w.ToolCallResult:
    if data.error is not None:
        body: Any = {"error": {"code": data.error.code, "message": data.error.message}}
    else:
        body = data.result
    return w.ToolCallResult(
        message_id=f"{data.tool_call_id}-result",
        tool_call_id=data.tool_call_id,
        content=_json(body),
        role="tool",
    )


def _usage(usage: e.TokenUsage | None) -> list[w.TokenUsage] | None:
    if usage is None:
        return None
    total = usage.input_tokens + usage.output_tokens
    return [
        w.TokenUsage(
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, total_tokens=total
        )
    ]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _ms(timestamp: float | None) -> int | None:
    return None if timestamp is None else int(timestamp * 1000)
