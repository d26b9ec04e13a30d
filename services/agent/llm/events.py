"""What a streamed chat completion yields to the agent, in order.

    ReasoningDelta*  TextDelta*  ToolCall*  Finished

Reasoning and text deltas may interleave as the model sends them. Each ``ToolCall`` is whole:
its fragments were joined and its arguments decoded into a dict. ``Finished`` always comes last,
once, with the server's ``finish_reason`` and the token usage when the server reported it.
A failure is an exception instead (``services.agent.llm.errors``), never an event.

Dispatch with ``match``::

    match event:
        case ReasoningDelta(text): ...
        case TextDelta(text): ...
        case ToolCall(id, name, arguments): ...
        case Finished(reason, usage): ...
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["ChatEvent", "Finished", "ReasoningDelta", "TextDelta", "ToolCall", "Usage"]


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int
    output_tokens: int


class _Event(msgspec.Struct, frozen=True, tag_field="type"):
    pass


class ReasoningDelta(_Event, tag="reasoning_delta"):
    """The next piece of the model's reasoning (``delta.reasoning_content`` or ``.reasoning``)."""

    text: str


class TextDelta(_Event, tag="text_delta"):
    """The next piece of the answer (``delta.content``)."""

    text: str


class ToolCall(_Event, tag="tool_call"):
    """One complete function call; ``id`` is what the tool message's ``tool_call_id`` answers."""

    id: str
    name: str
    arguments: dict[str, Any]


class Finished(_Event, tag="finished"):
    """The end of the completion: ``finish_reason`` is ``stop``, ``tool_calls``, ``length``..."""

    finish_reason: str
    usage: Usage | None = None


ChatEvent = ReasoningDelta | TextDelta | ToolCall | Finished
