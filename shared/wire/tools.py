"""Agent -> tool runner: one tool call (NATS request/reply on ``tools.call.<tool_name>``), and
the tool catalog (``tools.catalog``: every tool runner answers with the tools it has).

The tool runner publishes ``tool_executing`` and ``tool_completed`` to the user's events itself,
so the call carries the run's ``user_id``, ``run_id`` and ``thread_id``.

The catalog request has an empty body; each runner's answer is a :class:`ToolCatalog`. A tool's
``parameters`` is a JSON Schema (an object's), what an LLM is offered as a function's parameters.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ToolCallFailed",
    "ToolCallReply",
    "ToolCallRequest",
    "ToolCallSucceeded",
    "ToolCatalog",
    "ToolSpec",
    "decode_tool_call",
    "decode_tool_catalog",
    "decode_tool_reply",
    "encode",
]


class ToolCallRequest(msgspec.Struct, kw_only=True):
    user_id: str
    run_id: str
    thread_id: str
    tool_call_id: str
    tool_name: str
    parameters: dict[str, Any]


class ToolCallSucceeded(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    result: Any
    duration_ms: float


class ToolCallFailed(msgspec.Struct, tag_field="status", tag="error", kw_only=True):
    code: str
    message: str


ToolCallReply = ToolCallSucceeded | ToolCallFailed


class ToolSpec(msgspec.Struct, kw_only=True, frozen=True):
    """One tool a runner takes calls for: ``tools.call.<name>``."""

    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the call's parameters
    requires_approval: bool = False  # a person must approve each call (see docs/protocol.md)


class ToolCatalog(msgspec.Struct, kw_only=True):
    """One tool runner's answer to ``tools.catalog``."""

    tools: list[ToolSpec]


encode = msgspec.json.Encoder().encode
decode_tool_call = msgspec.json.Decoder(ToolCallRequest).decode
decode_tool_reply = msgspec.json.Decoder(ToolCallReply).decode
decode_tool_catalog = msgspec.json.Decoder(ToolCatalog).decode
