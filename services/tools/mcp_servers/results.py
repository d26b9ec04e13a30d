"""What an MCP server answered, as the tool runner reports it: a JSON-friendly result, or the
error code a failed call ends with.

==================================================  ===================  ======================
the server's answer                                 tool_completed       reply
==================================================  ===================  ======================
a result with ``structuredContent``                 that object          ok
a result of text blocks only                        the texts, joined    ok
a result with images, audio, resources              ``{text, content}``  ok
a result with ``isError``                           error: its text      ``tool_failed``
JSON-RPC error -32602 (invalid params)              error                ``invalid_parameters``
JSON-RPC error -32001 (the SDK's request timeout)   error                ``tool_timeout``
JSON-RPC error -32000 (connection closed), or the   error                ``tool_unavailable``
transport failing under the call
any other JSON-RPC error                            error                ``tool_failed``
==================================================  ===================  ======================

The runner's own time limit (``timeout_s`` of the server, else ``TOOL_TIMEOUT_S``) ends a call
as ``tool_timeout`` and a stop as ``cancelled``; either way the SDK sends the server
``notifications/cancelled`` for the request.
"""

from __future__ import annotations

from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    CallToolResult,
    TextContent,
)

from services.tools.registry import ToolFailed
from shared.errors import ErrorCode

__all__ = ["error_of", "failure_of", "result_of"]

_CODES = {
    INVALID_PARAMS: ErrorCode.INVALID_PARAMETERS,
    REQUEST_TIMEOUT: ErrorCode.TOOL_TIMEOUT,
    CONNECTION_CLOSED: ErrorCode.TOOL_UNAVAILABLE,
}
_MAX_ERROR_CHARS = 2000  # an error message is read by people (and a model), not parsed


def result_of(result: CallToolResult) -> Any:
    """The result of a successful call: structured content when the server gave it, else the
    text blocks joined, with any other blocks (images, audio, resources) as MCP shapes them."""
    if result.structured_content is not None:
        return result.structured_content
    text = _text(result)
    others = [block for block in result.content if not isinstance(block, TextContent)]
    if not others:
        return text
    blocks = [block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in others]
    return {"text": text, "content": blocks}


def error_of(tool: str, result: CallToolResult) -> ToolFailed:
    """A result flagged ``isError``: the tool ran and failed, saying why in its content."""
    said = _text(result).strip() or "no reason given"
    return ToolFailed(_clipped(f"{tool} failed: {said}"), ErrorCode.TOOL_FAILED)


def failure_of(tool: str, server: str, exc: MCPError) -> ToolFailed:
    """A JSON-RPC error answering the call (or raised by the SDK for it)."""
    code = _CODES.get(exc.code, ErrorCode.TOOL_FAILED)
    if code is ErrorCode.TOOL_UNAVAILABLE:
        message = f"{tool}: the MCP server {server!r} went away ({exc.message})"
    else:
        message = f"{tool}: {exc.message} (MCP error {exc.code})"
    return ToolFailed(_clipped(message), code)


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def _clipped(message: str) -> str:
    if len(message) <= _MAX_ERROR_CHARS:
        return message
    return message[: _MAX_ERROR_CHARS - 1] + "…"
