"""The Chat Completions wire format, both ways: the request we send and the chunks we read.

Messages and tools are the plain dicts the API takes (typed here as TypedDicts), so an agent can
keep its history in the API's own shape and send it back as is. The helpers build the two
messages an agent writes after a step: the assistant's turn with its tool calls, and one tool
result per call, answering its ``tool_call_id``.

The chunk Structs read only the fields we use and default everything else: servers differ
(vLLM and OpenRouter say ``reasoning``, DeepSeek and llama.cpp ``reasoning_content``; some send
``usage: null`` on every chunk, some put usage on the last choice chunk), and all of them add
fields of their own, which are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict

import msgspec

from services.agent.llm.events import ToolCall

__all__ = [
    "AssistantMessage",
    "Chunk",
    "Message",
    "SystemMessage",
    "Tool",
    "ToolMessage",
    "UserMessage",
    "assistant_message",
    "decode_chunk",
    "function_tool",
    "request_body",
    "tool_message",
]


class SystemMessage(TypedDict):
    role: Literal["system", "developer"]
    content: str


class UserMessage(TypedDict):
    role: Literal["user"]
    content: str | list[dict[str, Any]]


class FunctionCall(TypedDict):
    name: str
    arguments: str  # a JSON object, encoded: the API wants the string, not the object


class ToolCallMessage(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None
    tool_calls: NotRequired[list[ToolCallMessage]]


class ToolMessage(TypedDict):
    role: Literal["tool"]
    tool_call_id: str
    content: str


Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage


class FunctionSpec(TypedDict):
    name: str
    description: NotRequired[str]
    parameters: dict[str, Any]  # a JSON Schema object


class Tool(TypedDict):
    type: Literal["function"]
    function: FunctionSpec


def function_tool(name: str, description: str, parameters: Mapping[str, Any]) -> Tool:
    """A tool the model may call; ``parameters`` is the JSON Schema of its arguments."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": dict(parameters)},
    }


def assistant_message(text: str, tool_calls: Sequence[ToolCall] = ()) -> AssistantMessage:
    """The model's turn as the next request must repeat it: its text and the calls it made."""
    message: AssistantMessage = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _json(call.arguments)},
            }
            for call in tool_calls
        ]
    return message


def tool_message(tool_call_id: str, content: Any) -> ToolMessage:
    """A tool's result (or error) for the model; anything but a string is sent as JSON."""
    text = content if isinstance(content, str) else _json(content)
    return {"role": "tool", "tool_call_id": tool_call_id, "content": text}


def request_body(
    model: str,
    messages: Sequence[Message] | Sequence[Mapping[str, Any]],
    tools: Sequence[Tool] | Sequence[Mapping[str, Any]] | None = None,
    options: Mapping[str, Any] | None = None,
) -> bytes:
    """A streaming request that asks for usage (sent in a last chunk with no choices)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": list(messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        body["tools"] = list(tools)
    body.update(options or {})
    return _encoder.encode(body)


class FunctionFragment(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class ToolCallFragment(msgspec.Struct):
    index: int | None = None  # early Ollama left it out: the client falls back on ids
    id: str | None = None
    function: FunctionFragment | None = None


class Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallFragment] | None = None


class Choice(msgspec.Struct):
    index: int = 0
    delta: Delta = msgspec.field(default_factory=Delta)
    finish_reason: str | None = None


class WireUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class WireError(msgspec.Struct):
    message: str = ""
    code: int | str | None = None


class Chunk(msgspec.Struct):
    """One ``chat.completion.chunk``, or the error object some servers send mid-stream."""

    choices: list[Choice] = msgspec.field(default_factory=list)
    usage: WireUsage | None = None
    error: WireError | str | None = None


def _json(value: Any) -> str:
    return _encoder.encode(value).decode()


_encoder = msgspec.json.Encoder()
decode_chunk = msgspec.json.Decoder(Chunk).decode
