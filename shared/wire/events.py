"""The agent events a user watches, as a tagged union on ``type``.

Each event has a ``data`` object holding at least the fields the original report requires, with
``timestamp`` in Unix seconds taken when the event is published. On the bus an event has no
``seq``; the gateway adds the event's JetStream stream sequence as ``seq`` on its way to a socket.

Streamed text (opt-in per socket, ``GET /ws?deltas=1``): a thought or an answer may be streamed
as a *message*: ``message_started`` names it (``message_id``, ``kind``), ``message_delta`` events
carry its text in pieces, and the event that already carries the whole text completes it
(``agent_thinking`` for a thought, ``agent_completed`` for the answer, each with the same
``message_id``). The deltas of a message joined equal that whole text exactly. A long tool reports
``tool_progress`` between its ``tool_executing`` and ``tool_completed``. These three are the
:data:`STREAM_TYPES`: a socket that did not opt in never sees them.

Schema evolution: add fields with defaults; never retype or re-tag. Readers ignore unknown fields.
"""

from __future__ import annotations

import time
from typing import Any, Literal, get_args

import msgspec

__all__ = [
    "EVENT_TYPES",
    "STREAM_TYPES",
    "TERMINAL_TYPES",
    "AgentCancelled",
    "AgentCancelledData",
    "AgentCompleted",
    "AgentCompletedData",
    "AgentFailed",
    "AgentFailedData",
    "AgentStarted",
    "AgentStartedData",
    "AgentThinking",
    "AgentThinkingData",
    "AnyEvent",
    "ApprovalDecision",
    "ApprovalRequested",
    "ApprovalRequestedData",
    "ApprovalResolved",
    "ApprovalResolvedData",
    "Event",
    "MessageDelta",
    "MessageDeltaData",
    "MessageKind",
    "MessageStarted",
    "MessageStartedData",
    "TokenUsage",
    "ToolCompleted",
    "ToolCompletedData",
    "ToolError",
    "ToolExecuting",
    "ToolExecutingData",
    "ToolProgress",
    "ToolProgressData",
    "approval_requested_msg_id",
    "approval_resolved_msg_id",
    "decode_event",
    "encode_event",
    "now",
    "started_msg_id",
    "terminal_msg_id",
    "tool_completed_msg_id",
    "tool_executing_msg_id",
]


def now() -> float:
    """Event timestamps: Unix seconds as a float."""
    return time.time()


class EventData(msgspec.Struct, kw_only=True, omit_defaults=True):
    timestamp: float = msgspec.field(default_factory=now)


class AgentStartedData(EventData):
    agent_id: str
    message: str


MessageKind = Literal["thinking", "answer"]


class AgentThinkingData(EventData):
    agent_id: str
    thought: str
    step: int = 0
    message_id: str | None = None  # set when the thought was streamed: it completes that message


class ToolExecutingData(EventData):
    tool_call_id: str
    tool_name: str
    parameters: dict[str, Any]


class ToolError(msgspec.Struct, kw_only=True):
    code: str
    message: str


class ToolCompletedData(EventData):
    tool_call_id: str
    tool_name: str
    result: Any
    duration_ms: float = 0.0
    error: ToolError | None = None
    truncated: bool = False  # only in a run_snapshot: the result was too large and left out


class TokenUsage(msgspec.Struct, kw_only=True):
    """Tokens a model spent on a run (on its terminal event, when a model was used)."""

    input_tokens: int = 0
    output_tokens: int = 0


class AgentCompletedData(EventData):
    agent_id: str
    result: str
    message_id: str | None = None  # the answer's message (streamed or not): it completes it
    usage: TokenUsage | None = None


class MessageStartedData(EventData):
    message_id: str
    kind: MessageKind
    agent_id: str


class MessageDeltaData(EventData):
    message_id: str
    delta: str


class ToolProgressData(EventData):
    tool_call_id: str
    tool_name: str
    progress: float | None = None  # 0..1, when the tool can tell
    message: str | None = None


class AgentFailedData(EventData):
    agent_id: str
    code: str
    message: str
    usage: TokenUsage | None = None


class AgentCancelledData(EventData):
    agent_id: str
    reason: str = "cancelled by the user"
    usage: TokenUsage | None = None


class ApprovalRequestedData(EventData):
    """The run waits for a person: approve or deny ``approval_id`` before ``expires_at``."""

    approval_id: str
    tool_call_id: str
    tool_name: str  # "" for a free-form question (``question`` says what)
    parameters: dict[str, Any]
    reason: str  # why the agent wants it
    expires_at: float  # Unix seconds
    question: str | None = None


ApprovalDecision = Literal["approved", "denied", "expired", "cancelled"]


class ApprovalResolvedData(EventData):
    approval_id: str
    decision: ApprovalDecision
    reason: str | None = None  # a denial's reason, as the person gave it
    decided_by: str = "user"  # user | timeout | stop (the run was stopped or ended)


class Event(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    run_id: str
    thread_id: str
    seq: int = 0  # 0 on the bus; the gateway sets the stream sequence


class AgentStarted(Event, tag="agent_started"):
    data: AgentStartedData


class AgentThinking(Event, tag="agent_thinking"):
    data: AgentThinkingData


class ToolExecuting(Event, tag="tool_executing"):
    data: ToolExecutingData


class ToolCompleted(Event, tag="tool_completed"):
    data: ToolCompletedData


class AgentCompleted(Event, tag="agent_completed"):
    data: AgentCompletedData


class MessageStarted(Event, tag="message_started"):
    data: MessageStartedData


class MessageDelta(Event, tag="message_delta"):
    data: MessageDeltaData


class ToolProgress(Event, tag="tool_progress"):
    data: ToolProgressData


class ApprovalRequested(Event, tag="approval_requested"):
    data: ApprovalRequestedData


class ApprovalResolved(Event, tag="approval_resolved"):
    data: ApprovalResolvedData


class AgentFailed(Event, tag="agent_failed"):
    data: AgentFailedData


class AgentCancelled(Event, tag="agent_cancelled"):
    data: AgentCancelledData


AnyEvent = (
    AgentStarted
    | AgentThinking
    | ToolExecuting
    | ToolCompleted
    | AgentCompleted
    | AgentFailed
    | AgentCancelled
    | MessageStarted
    | MessageDelta
    | ToolProgress
    | ApprovalRequested
    | ApprovalResolved
)

# Every event's "type" tag, read from the union above: one list to keep up to date, not two.
EVENT_TYPES = frozenset(event.__struct_config__.tag for event in get_args(AnyEvent))
TERMINAL_TYPES = frozenset({"agent_completed", "agent_failed", "agent_cancelled"})
# Sent only to sockets that asked for streamed text (``deltas=1``); see the module docstring.
STREAM_TYPES = frozenset({"message_started", "message_delta", "tool_progress"})

# Fixed Nats-Msg-Ids for the events that two different publishers may store: a run's first and
# last event (its owner, or a sweeper that took the run over) and a tool call's two events (the
# tool runner, or the agent settling a call whose runner died). Whichever copy reaches the stream
# first is kept; the stream's duplicate window drops the other. Both services build them here.


def started_msg_id(run_id: str) -> str:
    return f"agent_started:{run_id}"


def terminal_msg_id(run_id: str) -> str:
    return f"terminal:{run_id}"


def tool_executing_msg_id(tool_call_id: str) -> str:
    return f"tool_executing:{tool_call_id}"


def tool_completed_msg_id(tool_call_id: str) -> str:
    return f"tool_completed:{tool_call_id}"


def approval_requested_msg_id(approval_id: str) -> str:
    return f"approval_requested:{approval_id}"


def approval_resolved_msg_id(approval_id: str) -> str:
    return f"approval_resolved:{approval_id}"


encode_event = msgspec.json.Encoder().encode
decode_event = msgspec.json.Decoder(AnyEvent).decode
