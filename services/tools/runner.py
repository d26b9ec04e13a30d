"""One tool call, from request to reply, with no NATS in sight (the bus module feeds it).

The lifecycle of a call, and what the user sees at each step::

    validate ──fail──> reply error                       (no event: nothing ran)
       │
    publish tool_executing ──fail──> reply publish_failed (nothing ran)
       │
    run under TOOL_TIMEOUT_S ──raised / timed out──> outcome carries a ToolError
       │
    publish tool_completed (result, or result None + error)
       │
    reply ok / error

Once ``tool_executing`` is stored, ``tool_completed`` is published whatever the tool did,
including when the runner itself is cancelled mid-call, so a user never watches a tool that
never ends. The lifecycle is this module's control flow rather than a state enum: nothing
outside :meth:`ToolRunner.call` can drive a call from one step to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from services.tools.registry import Parameters, Registry, Tool, ToolFailed
from shared.errors import AgentwireError, ErrorCode
from shared.subjects import check_token
from shared.wire.events import (
    AnyEvent,
    ToolCompleted,
    ToolCompletedData,
    ToolError,
    ToolExecuting,
    ToolExecutingData,
)
from shared.wire.tools import ToolCallFailed, ToolCallReply, ToolCallRequest, ToolCallSucceeded

__all__ = ["EventSink", "Outcome", "ToolRunner"]

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where events go: :class:`shared.bus.EventPublisher` in service, a list in unit tests."""

    async def publish(self, user_id: str, event: AnyEvent) -> int: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running the tool produced: a result, or an error the user may read."""

    result: Any = None
    duration_ms: float = 0.0
    error: ToolError | None = None

    def reply(self) -> ToolCallReply:
        if self.error is not None:
            return ToolCallFailed(code=self.error.code, message=self.error.message)
        return ToolCallSucceeded(result=self.result, duration_ms=self.duration_ms)


class ToolRunner:
    def __init__(self, registry: Registry, events: EventSink, *, timeout_s: float) -> None:
        self._registry = registry
        self._events = events
        self._timeout_s = timeout_s

    async def call(self, request: ToolCallRequest) -> ToolCallReply:
        try:
            tool, params = self._validate(request)
            return await self._execute(request, tool, params)
        except AgentwireError as exc:  # invalid call, or an event JetStream would not store
            log.info("tool call %r refused: %s", request.tool_call_id, exc.message)
            return ToolCallFailed(code=exc.code, message=exc.message)

    def _validate(self, request: ToolCallRequest) -> tuple[Tool, Parameters]:
        check_token(request.user_id, "user_id")
        check_token(request.run_id, "run_id")
        check_token(request.thread_id, "thread_id")
        check_token(request.tool_call_id, "tool_call_id")
        tool = self._registry.get(request.tool_name)
        return tool, tool.validate(request.parameters)

    async def _execute(
        self, request: ToolCallRequest, tool: Tool, params: Parameters
    ) -> ToolCallReply:
        data = ToolExecutingData(
            tool_call_id=request.tool_call_id,
            tool_name=tool.name,
            parameters=msgspec.to_builtins(params),
        )
        await self._publish(
            request, ToolExecuting(run_id=request.run_id, thread_id=request.thread_id, data=data)
        )
        try:
            outcome = await self._run(tool, params)
        except asyncio.CancelledError:
            stopped = ToolError(
                code=ErrorCode.TOOL_FAILED,
                message=f"the tool runner stopped before {tool.name} finished",
            )
            with contextlib.suppress(AgentwireError):  # the cancellation is the news to pass on
                await self._publish_completed(request, tool, Outcome(error=stopped))
            raise
        await self._publish_completed(request, tool, outcome)
        return outcome.reply()

    async def _run(self, tool: Tool, params: Parameters) -> Outcome:
        started = time.perf_counter()
        deadline = asyncio.timeout(self._timeout_s)
        try:
            async with deadline:
                result = msgspec.to_builtins(await tool.run(params))
        except Exception as exc:
            error = self._tool_error(tool, exc, timed_out=deadline.expired())
            return Outcome(duration_ms=_ms_since(started), error=error)
        return Outcome(result=result, duration_ms=_ms_since(started))

    def _tool_error(self, tool: Tool, exc: Exception, *, timed_out: bool) -> ToolError:
        if timed_out:
            message = f"{tool.name} did not finish within {self._timeout_s:g}s"
            return ToolError(code=ErrorCode.TOOL_TIMEOUT, message=message)
        if isinstance(exc, ToolFailed):
            return ToolError(code=ErrorCode.TOOL_FAILED, message=exc.message)
        # Anything else is a bug: log it whole, but show the user no internals.
        log.exception("tool %s raised", tool.name)
        message = f"{tool.name} failed unexpectedly ({type(exc).__name__})"
        return ToolError(code=ErrorCode.TOOL_FAILED, message=message)

    async def _publish_completed(
        self, request: ToolCallRequest, tool: Tool, outcome: Outcome
    ) -> None:
        data = ToolCompletedData(
            tool_call_id=request.tool_call_id,
            tool_name=tool.name,
            result=outcome.result,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
        )
        await self._publish(
            request, ToolCompleted(run_id=request.run_id, thread_id=request.thread_id, data=data)
        )

    async def _publish(self, request: ToolCallRequest, event: AnyEvent) -> None:
        await self._events.publish(request.user_id, event)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
