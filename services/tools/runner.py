"""One tool call, from request to reply, with no NATS in sight (the bus module feeds it).

The lifecycle of a call, and what the user sees at each step::

    cancelled before it arrived ──> reply cancelled             (no event: nothing ran)
    validate ──fail──> reply error                              (no event: nothing ran)
       │
    wait for the tool's own concurrency slot ──cancelled──> reply cancelled (no event)
       │
    publish tool_executing ──fail──> reply publish_failed       (nothing ran)
       │
    run under the tool's time limit (a tool that reports progress: tool_progress, at most
       │  every PROGRESS_FLUSH_MS, stopped before tool_completed)
       │  ──raised / timed out / cancelled──> outcome carries a ToolError
       │  ──result over max_result_bytes──> ToolError result_too_large (the result is dropped)
    publish tool_completed (result, or result None + error)
       │
    reply ok / error

From the moment a call is taken until its reply, the runner heartbeats to the caller on
``tools.heartbeat.<tool_call_id>``: an empty payload while the call waits, ``running`` once its
``tool_executing`` is stored (and one such beat at once), so the agent can tell a dead runner
from a slow tool and knows whether the user has seen the call start.

Once ``tool_executing`` is stored, ``tool_completed`` is published whatever the tool did,
including when the call is cancelled (error code ``cancelled``) or the runner itself is cancelled
mid-call, so a user never watches a tool that never ends. Both events carry fixed Nats-Msg-Ids
(``tool_executing:<id>``, ``tool_completed:<id>``): when this runner is gone the agent publishes
what is missing of the pair under the same ids, and the stream keeps whichever came first.
The lifecycle is this module's control flow rather than a state enum: nothing outside
:meth:`ToolRunner.call` can drive a call from one step to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from services.tools.calls import InFlight, InFlightCall
from services.tools.registry import Parameters, Registry, Tool, ToolFailed
from shared.errors import AgentwireError, ErrorCode
from shared.streaming import DEFAULT_PROGRESS_INTERVAL_S, ProgressReporter
from shared.subjects import check_token
from shared.wire.events import (
    AnyEvent,
    ToolCompleted,
    ToolCompletedData,
    ToolError,
    ToolExecuting,
    ToolExecutingData,
    tool_completed_msg_id,
    tool_executing_msg_id,
)
from shared.wire.tools import ToolCallFailed, ToolCallReply, ToolCallRequest, ToolCallSucceeded

__all__ = [
    "RUNNING_BEAT",
    "EventSink",
    "Heartbeat",
    "Outcome",
    "ToolRunner",
]

log = logging.getLogger(__name__)

# Sends one "still working on <tool_call_id>" to whoever made the call, with its payload.
Heartbeat = Callable[[str, bytes], Awaitable[None]]
RUNNING_BEAT = b"running"  # the payload once tool_executing is stored; empty before


class EventSink(Protocol):
    """Where events go: :class:`shared.bus.EventPublisher` in service, a list in tests."""

    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int: ...


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
    def __init__(
        self,
        registry: Registry,
        events: EventSink,
        *,
        timeout_s: float,
        heartbeat: Heartbeat | None = None,
        heartbeat_interval_s: float = 1.0,
        max_result_bytes: int | None = None,
        progress_interval_s: float = DEFAULT_PROGRESS_INTERVAL_S,
    ) -> None:
        """``max_result_bytes``: a larger result (as JSON) ends the call ``result_too_large``;
        it could reach neither the agent nor the user (None: no limit, for tests).
        ``progress_interval_s``: a call's progress is published at most this often."""
        self._registry = registry
        self._max_result_bytes = max_result_bytes
        self._events = events
        self._timeout_s = timeout_s
        self._heartbeat = heartbeat
        self._heartbeat_interval_s = heartbeat_interval_s
        self._progress_interval_s = progress_interval_s
        self._in_flight = InFlight()
        self._tool_slots: dict[str, asyncio.Semaphore] = {}

    async def call(self, request: ToolCallRequest) -> ToolCallReply:
        call = self._in_flight.take(request.tool_call_id)
        if call is None:
            return _cancelled(request.tool_name).reply()
        beating = asyncio.create_task(self._beat(request.tool_call_id, call))
        try:
            tool, params = self._validate(request)
            held = await self._wait_turn(tool, call)
            try:
                if call.cancel_requested:  # while it waited for its turn: nothing was shown yet
                    return _cancelled(tool.name).reply()
                return await self._execute(request, tool, params, call)
            finally:
                if held is not None:
                    held.release()
        except AgentwireError as exc:  # invalid call, or an event JetStream would not store
            log.info("tool call %r refused: %s", request.tool_call_id, exc.message)
            return ToolCallFailed(code=exc.code, message=exc.message)
        finally:
            beating.cancel()
            self._in_flight.release(request.tool_call_id, call)

    async def cancel(self, tool_call_id: str) -> bool:
        """Stop a call held here and wait for its end; False if this runner does not hold it."""
        return await self._in_flight.cancel(tool_call_id)

    def _validate(self, request: ToolCallRequest) -> tuple[Tool, Parameters | dict[str, Any]]:
        check_token(request.user_id, "user_id")
        check_token(request.run_id, "run_id")
        check_token(request.thread_id, "thread_id")
        check_token(request.tool_call_id, "tool_call_id")
        tool = self._registry.get(request.tool_name)
        return tool, tool.validate(request.parameters)

    async def _wait_turn(self, tool: Tool, call: InFlightCall) -> asyncio.Semaphore | None:
        """Wait for one of the tool's own slots; a cancel ends the wait. Returns the slot held."""
        if tool.concurrency is None:
            return None
        slots = self._tool_slots.get(tool.name)
        if slots is None:
            slots = self._tool_slots[tool.name] = asyncio.Semaphore(tool.concurrency)
        call.work = waiting = asyncio.ensure_future(slots.acquire())
        try:
            await waiting
        except asyncio.CancelledError:
            if waiting.done() and not waiting.cancelled():
                slots.release()  # granted just as we were cancelled: give it back
            if _only_the_tool_was_cancelled(call):
                return None
            raise
        finally:
            call.work = None
        return slots

    async def _execute(
        self,
        request: ToolCallRequest,
        tool: Tool,
        params: Parameters | dict[str, Any],
        call: InFlightCall,
    ) -> ToolCallReply:
        data = ToolExecutingData(
            tool_call_id=request.tool_call_id,
            tool_name=tool.name,
            parameters=msgspec.to_builtins(params),
        )
        executing = ToolExecuting(run_id=request.run_id, thread_id=request.thread_id, data=data)
        await self._events.publish(
            request.user_id, executing, msg_id=tool_executing_msg_id(request.tool_call_id)
        )
        call.running = True
        await self._send_beat(request.tool_call_id, call)  # the caller learns it at once
        progress = self._reporter(request, tool)
        try:
            try:
                outcome = await self._run(tool, params, call, progress, request.user_id)
            finally:  # before tool_completed, whatever happened: no progress after the end
                await progress.close()
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

    def _reporter(self, request: ToolCallRequest, tool: Tool) -> ProgressReporter:
        return ProgressReporter(
            functools.partial(self._events.publish, request.user_id),
            run_id=request.run_id,
            thread_id=request.thread_id,
            tool_call_id=request.tool_call_id,
            tool_name=tool.name,
            interval_s=self._progress_interval_s,
        )

    async def _run(
        self,
        tool: Tool,
        params: Parameters | dict[str, Any],
        call: InFlightCall,
        progress: ProgressReporter,
        user_id: str,
    ) -> Outcome:
        limit = tool.timeout_s or self._timeout_s
        started = time.perf_counter()
        if call.cancel_requested:  # cancelled while tool_executing was being stored
            return _cancelled(tool.name)
        extra: dict[str, Any] = {}
        if tool.reports_progress:
            extra["progress"] = progress.report
        if tool.knows_caller:
            extra["caller"] = user_id  # from the run, which took it from a verified token
        running = tool.run(params, **extra)
        call.work = work = asyncio.ensure_future(running)
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                result = msgspec.to_builtins(await work)
        except asyncio.CancelledError:
            if not _only_the_tool_was_cancelled(call):
                raise  # this task itself is being cancelled: not ours to swallow
            return _cancelled(tool.name, _ms_since(started))
        except Exception as exc:
            error = self._tool_error(tool, limit, exc, timed_out=deadline.expired())
            return Outcome(duration_ms=_ms_since(started), error=error)
        finally:
            work.cancel()  # a no-op once it has finished; otherwise the tool must not live on
        too_large = self._too_large(tool, result)
        if too_large is not None:
            return Outcome(duration_ms=_ms_since(started), error=too_large)
        return Outcome(result=result, duration_ms=_ms_since(started))

    def _too_large(self, tool: Tool, result: Any) -> ToolError | None:
        limit = self._max_result_bytes
        if limit is None:
            return None
        size = len(msgspec.json.encode(result))
        if size <= limit:
            return None
        log.warning("tool %s returned %d bytes, over the limit of %d", tool.name, size, limit)
        message = f"{tool.name} returned {size:,} bytes of result, over the limit of {limit:,}"
        return ToolError(code=ErrorCode.RESULT_TOO_LARGE, message=message)

    def _tool_error(
        self, tool: Tool, limit: float, exc: Exception, *, timed_out: bool
    ) -> ToolError:
        if timed_out:
            message = f"{tool.name} did not finish within {limit:g}s"
            return ToolError(code=ErrorCode.TOOL_TIMEOUT, message=message)
        if isinstance(exc, ToolFailed):  # tool_failed, or the code the tool knew better
            return ToolError(code=exc.code, message=exc.message)
        # Anything else is a bug: log it whole, but show the user no internals.
        log.exception("tool %s raised", tool.name)
        message = f"{tool.name} failed unexpectedly ({type(exc).__name__})"
        return ToolError(code=ErrorCode.TOOL_FAILED, message=message)

    async def _beat(self, tool_call_id: str, call: InFlightCall) -> None:
        """Tell the caller every interval that the call is alive: a caller that stops hearing
        this knows the runner is gone (killed, cut off) and fails the call instead of waiting."""
        while True:
            await self._send_beat(tool_call_id, call)
            await asyncio.sleep(self._heartbeat_interval_s)

    async def _send_beat(self, tool_call_id: str, call: InFlightCall) -> None:
        if self._heartbeat is None:
            return
        try:
            await self._heartbeat(tool_call_id, RUNNING_BEAT if call.running else b"")
        except Exception as exc:  # NATS away for a moment: the next beat may get through
            log.warning("heartbeat for tool call %s not sent: %r", tool_call_id, exc)

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
        event = ToolCompleted(run_id=request.run_id, thread_id=request.thread_id, data=data)
        await self._events.publish(
            request.user_id, event, msg_id=tool_completed_msg_id(request.tool_call_id)
        )


def _cancelled(tool_name: str, duration_ms: float = 0.0) -> Outcome:
    error = ToolError(code=ErrorCode.CANCELLED, message=f"{tool_name} was cancelled")
    return Outcome(duration_ms=duration_ms, error=error)


def _only_the_tool_was_cancelled(call: InFlightCall) -> bool:
    """A cancel request cancels the tool's own task; a shutdown cancels the task running us."""
    task = asyncio.current_task()
    return call.cancel_requested and (task is None or task.cancelling() == 0)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
