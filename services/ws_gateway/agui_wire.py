"""The gateway's AG-UI 1.0 boundary: what an AG-UI client POSTs, and the events it is streamed.

``POST /agui`` takes a ``RunAgentInput`` (:class:`RunInput`) and answers an SSE stream of the
events below, each one JSON object tagged by ``type``, camelCase on the wire. Only the shapes the
gateway produces are here, and only the input fields it reads: unknown input fields are skipped,
so a newer client still decodes. ``timestamp`` is milliseconds since the epoch (AG-UI's).

Why msgspec Structs rather than the official ``ag-ui-protocol`` package's pydantic models: the
gateway's hot path has no pydantic, and these shapes are agentwire's usual one-codec-per-boundary.
The official package is a dev dependency: ``tests/unit/ws_gateway/test_agui_projection.py``
validates every event the projection makes against its models, so the two cannot drift apart.

The AG-UI *agent* side (agentwire consuming AG-UI servers) has its own reader in
``services/agent/agents/agui_wire.py``; the two directions share no code because they share no
shape but the names.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "PROTOCOL_VERSION",
    "ActivitySnapshot",
    "AguiEvent",
    "Cancelled",
    "Interrupt",
    "Interrupted",
    "ReasoningContent",
    "ReasoningEnd",
    "ReasoningStart",
    "ResumeEntry",
    "RunError",
    "RunFinished",
    "RunInput",
    "RunStarted",
    "Success",
    "TextContent",
    "TextEnd",
    "TextStart",
    "TokenUsage",
    "ToolCallArgs",
    "ToolCallEnd",
    "ToolCallResult",
    "ToolCallStart",
    "decode_input",
    "encode_event",
    "last_user_text",
]

PROTOCOL_VERSION = "1.0"


class _Camel(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    pass


# What comes in: RunAgentInput (only what the gateway reads)


class _Message(_Camel, kw_only=True):
    id: str = ""
    role: str
    content: Any = None  # a string, or (user messages) a list of content parts


class ResumeEntry(_Camel, kw_only=True):
    interrupt_id: str
    status: Literal["resolved", "cancelled"]
    payload: Any = None


class RunInput(_Camel, kw_only=True):
    thread_id: str
    run_id: str
    messages: list[_Message] = msgspec.field(default_factory=list)
    forwarded_props: Any = None
    resume: list[ResumeEntry] | None = None


def last_user_text(run_input: RunInput) -> str | None:
    """The text of the input's last message when it is the user's; None otherwise."""
    if not run_input.messages or run_input.messages[-1].role != "user":
        return None
    content = run_input.messages[-1].content
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: the text ones, joined
        texts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return "\n".join(t for t in texts if isinstance(t, str))
    return None


# What goes out: events


class _Event(_Camel, tag_field="type"):
    timestamp: int | None = None  # ms


class RunStarted(_Event, tag="RUN_STARTED", kw_only=True):
    thread_id: str
    run_id: str
    protocol_version: str  # required here: omit_defaults would drop a default


class Success(_Camel, tag_field="type", tag="success"):
    pass


class Interrupt(_Camel, kw_only=True):
    id: str
    reason: str
    message: str | None = None
    tool_call_id: str | None = None
    response_schema: dict[str, Any] | None = None
    expires_at: str | None = None  # ISO 8601


class Interrupted(_Camel, tag_field="type", tag="interrupt"):
    interrupts: list[Interrupt]


class Cancelled(_Camel, tag_field="type", tag="cancelled"):
    pass


class TokenUsage(_Camel, kw_only=True):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class RunFinished(_Event, tag="RUN_FINISHED", kw_only=True):
    thread_id: str
    run_id: str
    outcome: Success | Interrupted | Cancelled | None = None
    usage: list[TokenUsage] | None = None


class RunError(_Event, tag="RUN_ERROR", kw_only=True):
    message: str
    code: str | None = None
    usage: list[TokenUsage] | None = None


class TextStart(_Event, tag="TEXT_MESSAGE_START", kw_only=True):
    message_id: str
    role: Literal["assistant"]


class TextContent(_Event, tag="TEXT_MESSAGE_CONTENT", kw_only=True):
    message_id: str
    delta: str


class TextEnd(_Event, tag="TEXT_MESSAGE_END", kw_only=True):
    message_id: str


class ReasoningStart(_Event, tag="REASONING_MESSAGE_START", kw_only=True):
    message_id: str
    role: Literal["reasoning"]


class ReasoningContent(_Event, tag="REASONING_MESSAGE_CONTENT", kw_only=True):
    message_id: str
    delta: str


class ReasoningEnd(_Event, tag="REASONING_MESSAGE_END", kw_only=True):
    message_id: str


class ToolCallStart(_Event, tag="TOOL_CALL_START", kw_only=True):
    tool_call_id: str
    tool_call_name: str


class ToolCallArgs(_Event, tag="TOOL_CALL_ARGS", kw_only=True):
    tool_call_id: str
    delta: str


class ToolCallEnd(_Event, tag="TOOL_CALL_END", kw_only=True):
    tool_call_id: str


class ToolCallResult(_Event, tag="TOOL_CALL_RESULT", kw_only=True):
    message_id: str
    tool_call_id: str
    content: str
    role: Literal["tool"]


class ActivitySnapshot(_Event, tag="ACTIVITY_SNAPSHOT", kw_only=True):
    message_id: str
    activity_type: str
    content: dict[str, Any]


AguiEvent = (
    RunStarted
    | RunFinished
    | RunError
    | TextStart
    | TextContent
    | TextEnd
    | ReasoningStart
    | ReasoningContent
    | ReasoningEnd
    | ToolCallStart
    | ToolCallArgs
    | ToolCallEnd
    | ToolCallResult
    | ActivitySnapshot
)

encode_event = msgspec.json.Encoder().encode
decode_input = msgspec.json.Decoder(RunInput).decode
