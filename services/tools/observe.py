"""What an operator sees of the tool runner: calls counted and timed per tool, each call's span.

:func:`observed_call` wraps one call (the NATS edge calls it instead of the runner directly):

- the ``execute_tool {name}`` span (GenAI conventions), child of the ``traceparent`` the agent
  sent with the request, so the call sits in its message's trace;
- ``agentwire_tool_calls_total{tool, outcome}`` (``ok`` or the error code) and
  ``agentwire_tool_duration_seconds{tool}``; a name that is not a registered tool counts as
  ``unknown`` (a caller must not be able to mint label values);
- the call's ids bound to every log line it writes, and one line at its end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container, Mapping
from typing import Protocol

from shared import tracing
from shared.errors import ErrorCode
from shared.logging import bound
from shared.metrics import Registry
from shared.wire.tools import ToolCallFailed, ToolCallReply, ToolCallRequest

__all__ = ["TOOLS", "ToolMetrics", "observed_call"]

log = logging.getLogger(__name__)

_KNOWN_CODES = frozenset(code.value for code in ErrorCode)


class Caller(Protocol):
    async def call(self, request: ToolCallRequest) -> ToolCallReply: ...


class ToolMetrics:
    def __init__(self) -> None:
        self.registry = r = Registry()
        self.known: Container[str] = ()  # the registry: asked at each call
        self.calls = r.counter(
            "agentwire_tool_calls_total",
            "Tool calls answered, by tool and outcome (ok, or the error code)",
            ("tool", "outcome"),
        )
        self.duration = r.histogram(
            "agentwire_tool_duration_seconds",
            "From a call's arrival to its reply (its events stored), by tool",
            ("tool",),
        )
        self.in_flight = r.gauge("agentwire_tool_calls_in_flight", "Calls this runner holds")


TOOLS = ToolMetrics()  # one tool runner per process


async def observed_call(
    runner: Caller, request: ToolCallRequest, headers: Mapping[str, str] | None
) -> ToolCallReply:
    tool = request.tool_name if request.tool_name in TOOLS.known else "unknown"
    started = time.monotonic()
    TOOLS.in_flight.value += 1
    try:
        with (
            bound(
                run_id=request.run_id, user_id=request.user_id, tool_call_id=request.tool_call_id
            ),
            tracing.span(
                f"execute_tool {tool}",
                kind="server",
                parent=tracing.extract(headers),
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool,
                    "gen_ai.tool.call.id": request.tool_call_id,
                    "agentwire.run_id": request.run_id,
                },
            ) as span,
        ):
            reply = await runner.call(request)
            outcome = "ok"
            if isinstance(reply, ToolCallFailed):
                outcome = reply.code if reply.code in _KNOWN_CODES else "failed"
                tracing.fail(span, outcome)
            elapsed = time.monotonic() - started
            log.info("tool call %s: %s in %.0f ms", tool, outcome, elapsed * 1000)
    finally:
        TOOLS.in_flight.value -= 1
    TOOLS.calls.inc(tool, outcome)
    TOOLS.duration.observe(elapsed, tool)
    return reply
