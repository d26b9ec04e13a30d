"""Agent -> tool runner: one tool call (NATS request/reply on ``tools.call.<tool_name>``).

The tool runner publishes ``tool_executing`` and ``tool_completed`` to the user's events itself,
so the call carries the run's ``user_id``, ``run_id`` and ``thread_id``.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "ToolCallFailed",
    "ToolCallReply",
    "ToolCallRequest",
    "ToolCallSucceeded",
    "decode_tool_call",
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

encode = msgspec.json.Encoder().encode
decode_tool_call = msgspec.json.Decoder(ToolCallRequest).decode
decode_tool_reply = msgspec.json.Decoder(ToolCallReply).decode
