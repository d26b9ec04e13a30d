"""The AG-UI 1.0 wire shapes an AG-UI agent's client sends and reads: one module, one codec.

What is sent: a ``RunAgentInput`` (the thread's messages, the tools offered); what comes back: an
SSE stream of events, each a JSON object tagged by ``type``. Field names are camelCase on the
wire (``rename="camel"``); fields no consumer here needs are left out, and unknown fields are
skipped, so a newer producer still decodes. An event type agentwire does not act on (state,
activity, steps, custom, raw, subagents...) decodes as ``None``: the protocol lets a consumer
ignore what it does not use.

Why msgspec Structs rather than the official ``ag-ui-protocol`` package's pydantic models: the
agent service has no pydantic, and these few shapes are agentwire's usual one-decoder-per-boundary
codec. The official package is a dev dependency: the tests encode its events and decode them
here (``tests/unit/agent/test_agui_wire.py``), so the two cannot drift apart unnoticed.

The ``THINKING_*`` events are AG-UI's names before 1.0 (since renamed ``REASONING_*``); older
servers still send them, and they mean the same here.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "PROTOCOL_VERSION",
    "AguiEvent",
    "AssistantMessage",
    "Cancelled",
    "FunctionCall",
    "Interrupt",
    "Interrupted",
    "Message",
    "Outcome",
    "ReasoningChunk",
    "ReasoningContent",
    "ReasoningEnd",
    "ReasoningStart",
    "ResumeEntry",
    "RunAgentInput",
    "RunError",
    "RunFinished",
    "RunStarted",
    "Success",
    "TextChunk",
    "TextContent",
    "TextEnd",
    "TextStart",
    "ThinkingContent",
    "ThinkingEnd",
    "ThinkingStart",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolCallArgs",
    "ToolCallChunk",
    "ToolCallEnd",
    "ToolCallResult",
    "ToolCallStart",
    "ToolMessage",
    "UserMessage",
    "WireError",
    "decode_event",
    "encode_input",
]

PROTOCOL_VERSION = "1.0"


class _Camel(msgspec.Struct, rename="camel"):
    pass


# What is sent: RunAgentInput


class Tool(_Camel):
    name: str
    description: str
    parameters: dict[str, Any]


class FunctionCall(_Camel):
    name: str
    arguments: str  # a JSON object, as text


class ToolCall(_Camel):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class _Message(_Camel, tag_field="role", omit_defaults=True):
    id: str


class UserMessage(_Message, tag="user"):
    content: str


class AssistantMessage(_Message, tag="assistant"):
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class ToolMessage(_Message, tag="tool"):
    tool_call_id: str
    content: str
    error: str | None = None


Message = UserMessage | AssistantMessage | ToolMessage


class ResumeEntry(_Camel, omit_defaults=True):
    """An answer to an interrupt of the run before (AG-UI 1.0's approve-with-edits payload)."""

    interrupt_id: str
    status: Literal["resolved", "cancelled"]  # required on the wire: no default to omit
    payload: dict[str, Any] | None = None


class RunAgentInput(_Camel):
    thread_id: str
    run_id: str
    messages: list[Message]
    tools: list[Tool]
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    context: list[Any] = msgspec.field(default_factory=list)
    forwarded_props: dict[str, Any] = msgspec.field(default_factory=dict)
    protocol_version: str = PROTOCOL_VERSION
    resume: list[ResumeEntry] | msgspec.UnsetType = msgspec.UNSET  # left out unless resuming


def encode_input(run_input: RunAgentInput) -> bytes:
    """The request body. ``state``, ``context`` and ``forwardedProps`` are written even when
    empty: servers on the official SDKs before 1.0 require them."""
    return _encoder.encode(run_input)


# What comes back: events


class _Event(_Camel, tag_field="type"):
    pass


class RunStarted(_Event, tag="RUN_STARTED"):
    thread_id: str = ""
    run_id: str = ""


class TokenUsage(_Camel):
    input_tokens: int | None = None
    output_tokens: int | None = None


class Outcome(_Camel, tag_field="type"):
    pass


class Success(Outcome, tag="success"):
    pending_tool_call_ids: list[str] | None = None


class Interrupt(_Camel):
    id: str = ""
    reason: str = ""
    message: str | None = None
    tool_call_id: str | None = None  # the call it holds back, when it is a tool approval


class Interrupted(Outcome, tag="interrupt"):
    interrupts: list[Interrupt] = msgspec.field(default_factory=list)


class Cancelled(Outcome, tag="cancelled"):
    pass


class RunFinished(_Event, tag="RUN_FINISHED"):
    outcome: Success | Interrupted | Cancelled | None = None
    usage: list[TokenUsage] | None = None


class RunError(_Event, tag="RUN_ERROR"):
    message: str = ""
    code: str | None = None


class TextStart(_Event, tag="TEXT_MESSAGE_START"):
    message_id: str
    role: str | None = None


class TextContent(_Event, tag="TEXT_MESSAGE_CONTENT"):
    message_id: str
    delta: str


class TextEnd(_Event, tag="TEXT_MESSAGE_END"):
    message_id: str


class TextChunk(_Event, tag="TEXT_MESSAGE_CHUNK"):
    message_id: str | None = None
    delta: str | None = None


class ReasoningStart(_Event, tag="REASONING_MESSAGE_START"):
    message_id: str


class ReasoningContent(_Event, tag="REASONING_MESSAGE_CONTENT"):
    message_id: str
    delta: str


class ReasoningEnd(_Event, tag="REASONING_MESSAGE_END"):
    message_id: str


class ReasoningChunk(_Event, tag="REASONING_MESSAGE_CHUNK"):
    message_id: str | None = None
    delta: str | None = None


# Before 1.0: no message ids (one thinking message at a time).
class ThinkingStart(_Event, tag="THINKING_TEXT_MESSAGE_START"):
    pass


class ThinkingContent(_Event, tag="THINKING_TEXT_MESSAGE_CONTENT"):
    delta: str


class ThinkingEnd(_Event, tag="THINKING_TEXT_MESSAGE_END"):
    pass


class ToolCallStart(_Event, tag="TOOL_CALL_START"):
    tool_call_id: str
    tool_call_name: str
    parent_message_id: str | None = None


class ToolCallArgs(_Event, tag="TOOL_CALL_ARGS"):
    tool_call_id: str
    delta: str


class ToolCallEnd(_Event, tag="TOOL_CALL_END"):
    tool_call_id: str


class ToolCallChunk(_Event, tag="TOOL_CALL_CHUNK"):
    tool_call_id: str | None = None
    tool_call_name: str | None = None
    parent_message_id: str | None = None
    delta: str | None = None


class ToolCallResult(_Event, tag="TOOL_CALL_RESULT"):
    tool_call_id: str
    content: Any  # a string, or (1.0) a list of content parts
    message_id: str = ""


AguiEvent = (
    RunStarted
    | RunFinished
    | RunError
    | TextStart
    | TextContent
    | TextEnd
    | TextChunk
    | ReasoningStart
    | ReasoningContent
    | ReasoningEnd
    | ReasoningChunk
    | ThinkingStart
    | ThinkingContent
    | ThinkingEnd
    | ToolCallStart
    | ToolCallArgs
    | ToolCallEnd
    | ToolCallChunk
    | ToolCallResult
)


class WireError(ValueError):
    """An event that is not JSON, or a known event type in the wrong shape."""


class _Header(msgspec.Struct):
    type: str


_KNOWN = frozenset(
    cls.__struct_config__.tag  # type: ignore[attr-defined]
    for cls in AguiEvent.__args__  # type: ignore[attr-defined]
)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AguiEvent)
_header = msgspec.json.Decoder(_Header)


def decode_event(data: str | bytes) -> AguiEvent | None:
    """The event, or None for a type agentwire does not act on; raises :class:`WireError`."""
    try:
        return _decoder.decode(data)
    except msgspec.ValidationError as error:
        try:
            kind = _header.decode(data).type
        except msgspec.DecodeError:
            raise WireError(f"an event without a type: {error}") from None
        if kind not in _KNOWN:
            return None
        raise WireError(f"a malformed {kind} event: {error}") from None
    except msgspec.DecodeError as error:
        raise WireError(f"an event that is not JSON: {error}") from None
