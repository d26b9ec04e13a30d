"""Running one run: the events the user watches, the planner's steps, and the tool calls.

A run publishes ``agent_started``, then one ``agent_thinking`` per Think step, calls a tool for
each CallTool step (the tool runner publishes that call's two events), and ends with exactly one
terminal event: ``agent_completed`` with the planner's answer, or ``agent_failed`` with a code and a
message for whatever broke — a tool error, a timeout, a crash, an event the stream would not take,
or the agent shutting down. :meth:`Runner.run` never raises except to pass on its own cancellation.

The runner talks to the world through three small seams (:class:`EventSink`, :class:`ToolCaller`,
:class:`RunLedger`), so tests can drive it without NATS or a database.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from services.agent.models import RunStatus
from services.agent.planner import CallTool, Finish, Planner, Step, Think, ToolObservation
from shared.errors import AgentwireError, ErrorCode
from shared.wire.events import (
    AgentCompleted,
    AgentCompletedData,
    AgentFailed,
    AgentFailedData,
    AgentStarted,
    AgentStartedData,
    AgentThinking,
    AgentThinkingData,
    AnyEvent,
)
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded

__all__ = [
    "DEFAULT_MAX_STEPS",
    "EventSink",
    "RunLedger",
    "RunSpec",
    "Runner",
    "ToolCaller",
]

log = logging.getLogger(__name__)

# A planner that never says Finish (an LLM going in circles) must not run for ever.
DEFAULT_MAX_STEPS = 50
SHUTDOWN_MESSAGE = "the agent service stopped before this run finished"


class EventSink(Protocol):
    async def publish(self, user_id: str, event: AnyEvent) -> int: ...


class ToolCaller(Protocol):
    async def call(self, request: ToolCallRequest) -> ToolCallSucceeded: ...


class RunLedger(Protocol):
    async def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        result: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> bool: ...


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a run needs: who asked, what, where, and what they said before in the thread."""

    run_id: str
    thread_id: str
    user_id: str
    content: str
    history: tuple[str, ...] = ()


@dataclass(slots=True)
class _Run:
    spec: RunSpec
    agent_id: str
    status: RunStatus = RunStatus.RUNNING
    thoughts: int = 0

    def ids(self) -> dict[str, Any]:
        return {"run_id": self.spec.run_id, "thread_id": self.spec.thread_id}

    def finish(self, status: RunStatus) -> bool:
        """Take the one terminal transition; False if the run has already ended."""
        if not self.status.can_become(status):
            return False
        self.status = status
        return True


class Runner:
    def __init__(
        self,
        *,
        events: EventSink,
        tools: ToolCaller,
        ledger: RunLedger,
        planner: Planner,
        agent_name: str,
        max_concurrent_runs: int,
        think_delay_s: float = 0.0,
        max_steps: int = DEFAULT_MAX_STEPS,
    ) -> None:
        self._events = events
        self._tools = tools
        self._ledger = ledger
        self._planner = planner
        self._agent_name = agent_name
        self._slots = asyncio.Semaphore(max_concurrent_runs)
        self._think_delay_s = think_delay_s
        self._max_steps = max_steps

    def agent_id(self, run_id: str) -> str:
        return f"{self._agent_name}_{run_id[:8]}"

    async def run(self, spec: RunSpec) -> None:
        """Drive one run to its one terminal event. Waits for a free slot first."""
        run = _Run(spec, self.agent_id(spec.run_id))
        try:
            async with self._slots:
                answer = await self._drive(run)
            await self._complete(run, answer)
        except asyncio.CancelledError:
            # Today only shutdown cancels a run; issue 4's user cancel will end it as cancelled.
            await self._fail(run, ErrorCode.AGENT_ERROR, SHUTDOWN_MESSAGE)
            raise
        except AgentwireError as exc:
            await self._fail(run, exc.code, exc.message)
        except Exception:
            log.exception("run %s crashed", spec.run_id)
            await self._fail(run, ErrorCode.AGENT_ERROR, "the agent hit an unexpected error")

    async def _drive(self, run: _Run) -> str:
        """Publish agent_started, then follow the plan; return its answer."""
        plan = self._planner.start(run.spec.content, list(run.spec.history))
        await self._publish(
            run,
            AgentStarted(
                **run.ids(), data=AgentStartedData(agent_id=run.agent_id, message=plan.headline)
            ),
        )
        observation: ToolObservation | None = None
        for _ in range(self._max_steps):
            step = await _resolved(plan.next_step(observation))
            observation = None
            match step:
                case Think(thought=thought):
                    await self._think(run, thought)
                case CallTool():
                    observation = await self._call_tool(run, step)
                case Finish(answer=answer):
                    return answer
                case _:
                    raise TypeError(f"the planner returned {step!r}, not a step")
        raise AgentwireError(
            f"the plan did not finish within {self._max_steps} steps", ErrorCode.AGENT_ERROR
        )

    async def _think(self, run: _Run, thought: str) -> None:
        # A short pause between thoughts: without it a deterministic plan lands all at once and
        # the stream does not look like someone working.
        if run.thoughts and self._think_delay_s:
            await asyncio.sleep(self._think_delay_s)
        run.thoughts += 1
        await self._publish(
            run,
            AgentThinking(
                **run.ids(),
                data=AgentThinkingData(agent_id=run.agent_id, thought=thought, step=run.thoughts),
            ),
        )

    async def _call_tool(self, run: _Run, step: CallTool) -> ToolObservation:
        request = ToolCallRequest(
            user_id=run.spec.user_id,
            run_id=run.spec.run_id,
            thread_id=run.spec.thread_id,
            tool_call_id=uuid.uuid4().hex,
            tool_name=step.tool_name,
            parameters=step.parameters,
        )
        reply = await self._tools.call(request)
        return ToolObservation(step.tool_name, step.parameters, reply.result)

    async def _complete(self, run: _Run, answer: str) -> None:
        if not run.finish(RunStatus.COMPLETED):
            return
        try:
            await self._publish(
                run,
                AgentCompleted(
                    **run.ids(), data=AgentCompletedData(agent_id=run.agent_id, result=answer)
                ),
            )
        except Exception as exc:
            # The answer never reached the stream; a failure notice is the user's only ending now.
            code = exc.code if isinstance(exc, AgentwireError) else ErrorCode.PUBLISH_FAILED
            log.error("run %s: could not publish its answer: %r", run.spec.run_id, exc)
            await self._announce_failure(run, code, "the answer could not be delivered")
            await self._record(run, RunStatus.FAILED, error_code=code, error=str(exc))
            return
        await self._record(run, RunStatus.COMPLETED, result=answer)

    async def _fail(self, run: _Run, code: str, message: str) -> None:
        if not run.finish(RunStatus.FAILED):
            return
        log.warning("run %s failed: %s: %s", run.spec.run_id, code, message)
        await self._announce_failure(run, code, message)
        await self._record(run, RunStatus.FAILED, error_code=code, error=message)

    async def _announce_failure(self, run: _Run, code: str, message: str) -> None:
        """Best effort: if even this cannot be stored, the log is all that is left."""
        try:
            await self._publish(
                run,
                AgentFailed(
                    **run.ids(),
                    data=AgentFailedData(agent_id=run.agent_id, code=str(code), message=message),
                ),
            )
        except Exception:
            log.exception("run %s: could not publish agent_failed", run.spec.run_id)

    async def _record(
        self,
        run: _Run,
        status: RunStatus,
        *,
        result: str | None = None,
        error_code: str | None = None,
        error: str | None = None,
    ) -> None:
        # The user has their terminal event already; a database hiccup must not undo that.
        try:
            await self._ledger.finish_run(
                run.spec.run_id,
                status,
                result=result,
                error_code=None if error_code is None else str(error_code),
                error_message=error,
            )
        except Exception:
            log.exception("run %s: could not record its end as %s", run.spec.run_id, status)

    async def _publish(self, run: _Run, event: AnyEvent) -> None:
        await self._events.publish(run.spec.user_id, event)


async def _resolved(step: Step | Awaitable[Step]) -> Step:
    # The Planner interface is synchronous; an LLM plan may return an awaitable step instead,
    # and is awaited here so that swapping planners never touches this loop.
    if inspect.isawaitable(step):
        return await step
    return step
