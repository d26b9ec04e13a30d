"""Calling one tool on the tool runner: a NATS request with a timeout, and what its failures mean.

The tool runner publishes the call's ``tool_executing`` and ``tool_completed`` events itself and
replies only afterwards, so when :meth:`ToolClient.call` returns, both events are already stored
ahead of whatever the run publishes next.

Failures become :class:`ToolCallError` with a code from the documented table:

    no tool runner subscribed        tool_unavailable   (NATS answers "no responders" at once)
    no reply within the timeout      tool_timeout
    the runner's ToolCallFailed      its code (unknown codes become tool_failed)
    an unreadable reply              tool_failed
"""

from __future__ import annotations

import msgspec
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from shared import bus, subjects
from shared.errors import AgentwireError, ErrorCode, InvalidId
from shared.wire.tools import (
    ToolCallFailed,
    ToolCallRequest,
    ToolCallSucceeded,
    decode_tool_reply,
    encode,
)

__all__ = ["ToolCallError", "ToolClient"]


class ToolCallError(AgentwireError):
    code = ErrorCode.TOOL_FAILED


class ToolClient:
    def __init__(self, nc: NATS, *, timeout_s: float) -> None:
        self._nc = nc
        self._timeout_s = timeout_s

    async def call(self, request: ToolCallRequest) -> ToolCallSucceeded:
        """Run the tool; return its success or raise ToolCallError saying why not."""
        name = request.tool_name
        try:
            subject = subjects.tool_call(name)
        except InvalidId:
            raise ToolCallError(f"no tool is called {name!r}", ErrorCode.UNKNOWN_TOOL) from None
        try:
            msg = await bus.request(self._nc, subject, encode(request), timeout_s=self._timeout_s)
        except NoRespondersError:
            raise ToolCallError(
                f"no tool runner is serving {name}", ErrorCode.TOOL_UNAVAILABLE
            ) from None
        except NatsTimeout:
            raise ToolCallError(
                f"{name} did not answer within {self._timeout_s:g}s", ErrorCode.TOOL_TIMEOUT
            ) from None
        return _unwrap(name, msg.data)


def _unwrap(name: str, payload: bytes) -> ToolCallSucceeded:
    try:
        reply = decode_tool_reply(payload)
    except msgspec.DecodeError as exc:
        raise ToolCallError(f"{name} sent an unreadable reply: {exc}") from None
    match reply:
        case ToolCallSucceeded():
            return reply
        case ToolCallFailed(code=code, message=message):
            raise ToolCallError(message, _known_code(code))


def _known_code(code: str) -> ErrorCode:
    # Codes are a closed, documented registry; a code this agent does not know is still a failure.
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.TOOL_FAILED
