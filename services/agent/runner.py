"""Running one run: the events the user watches, the planner's steps, and the tool calls.

A run publishes ``agent_started``, then one ``agent_thinking`` per Think step, and calls a tool
for each CallTool step (the tool runner publishes that call's two events). Each thought, and the
answer, is first typed out as a streamed message (``message_started``, ``message_delta``s; see
:mod:`services.agent.messages`): the thought's ``agent_thinking`` completes its message, the
answer's ``agent_completed`` (published by closing) completes the answer. A stop cancels the
run's task, which stops the message's writer before the run's end is announced, so no delta
follows the terminal event. :meth:`Runner.run`
returns how the run ended, as an :class:`~services.agent.models.Ending`, and publishes no terminal
event itself: :mod:`services.agent.closing` records the ending and announces it, the same way a
sweeper does for a run whose agent died. Endings, by cause:

    the planner's Finish          completed
    a tool error                  failed, with the tool's code
    the run's time budget         failed, run_timeout
    a crash / a bad plan          failed, agent_error (publish_failed: an event was not stored)
    stopped: CANCELLED            cancelled
    stopped: SHUTDOWN             failed, agent_stopped
    stopped: LEASE_LOST, or the   None: another process holds the run now and announces its end
    lease may have run out

The runner talks to the world through small seams (:class:`EventSink`, :class:`ToolCaller`,
:class:`RunBook`), so tests can drive it without NATS or a database.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from services.agent.closing import CANCEL_REASON, agent_id
from services.agent.control import LeaseLost, RunHandle, StopReason
from services.agent.messages import Typing, answer_message_id, thought_message_id
from services.agent.models import CallStage, Ending
from services.agent.planner import CallTool, Finish, Planner, Step, Think, ToolObservation
from services.agent.toolclient import ToolCallError
from shared.errors import AgentwireError, ErrorCode
from shared.streaming import MessageWriter
from shared.wire.events import (
    AgentStarted,
    AgentStartedData,
    AgentThinking,
    AgentThinkingData,
    AnyEvent,
    MessageKind,
    started_msg_id,
)
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_RUN_TIMEOUT_S",
    "EventSink",
    "RunBook",
    "RunSpec",
    "Runner",
    "ToolCaller",
    "stopped_ending",
]

log = logging.getLogger(__name__)

# A planner that never says Finish (an LLM going in circles) must not run for ever.
DEFAULT_MAX_STEPS = 50
DEFAULT_RUN_TIMEOUT_S = 300.0
SHUTDOWN_MESSAGE = "the agent service stopped before this run finished"


class EventSink(Protocol):
    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int: ...


class ToolCaller(Protocol):
    async def call(
        self,
        request: ToolCallRequest,
        on_stage: Callable[[CallStage], Awaitable[None]] | None = None,
    ) -> ToolCallSucceeded: ...


class RunBook(Protocol):
    """What the database must know while a run goes, for whoever has to end it.

    That agent_started is stored, and its seq (``first_seq``), are recorded with the run's first
    call, or with its ending (``handle.started``), not in a write of its own: if the run dies
    before either, whoever ends it publishes agent_started again under the same message id, and
    the stream keeps one (and answers the first copy's seq)."""

    async def open_call(
        self,
        call_id: str,
        run_id: str,
        tool_name: str,
        parameters: dict[str, Any],
        *,
        started: bool = False,
        first_seq: int | None = None,
    ) -> None: ...
    async def call_stage(self, call_id: str, stage: CallStage) -> None: ...
    async def close_call(self, call_id: str) -> None: ...


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
    handle: RunHandle
    thoughts: int = 0

    def ids(self) -> dict[str, Any]:
        return {"run_id": self.spec.run_id, "thread_id": self.spec.thread_id}


class Runner:
    def __init__(
        self,
        *,
        events: EventSink,
        tools: ToolCaller,
        book: RunBook,
        planner: Planner,
        agent_name: str,
        think_delay_s: float = 0.0,
        max_steps: int = DEFAULT_MAX_STEPS,
        run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
        typing: Typing | None = None,
    ) -> None:
        """``typing``: how thoughts and the answer are streamed (None: at once, no pacing)."""
        self._events = events
        self._tools = tools
        self._book = book
        self._planner = planner
        self._agent_name = agent_name
        self._think_delay_s = think_delay_s
        self._max_steps = max_steps
        self._run_timeout_s = run_timeout_s
        self._typing = typing or Typing(tokens_per_s=0)

    def agent_id(self, run_id: str) -> str:
        return agent_id(self._agent_name, run_id)

    async def run(self, spec: RunSpec, handle: RunHandle) -> Ending | None:
        """Drive one run until it ends; say how. The run holds one of the process's slots."""
        run = _Run(spec, self.agent_id(spec.run_id), handle)
        try:
            answer = await self._drive_within_budget(run)
            return Ending.completed(answer)
        except asyncio.CancelledError:
            if handle.reason is None:
                raise  # not a stop this service asked for (the loop is closing): pass it on
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return stopped_ending(handle.reason)
        except LeaseLost:
            log.warning("run %s: lease may have run out; leaving it to a sweeper", spec.run_id)
            return None
        except AgentwireError as exc:
            return Ending.failed(exc.code, exc.message)
        except Exception:
            log.exception("run %s crashed", spec.run_id)
            return Ending.failed(ErrorCode.AGENT_ERROR, "the agent hit an unexpected error")

    async def _drive_within_budget(self, run: _Run) -> str:
        budget = asyncio.timeout(self._run_timeout_s)
        try:
            async with budget:
                return await self._drive(run)
        except TimeoutError:
            if not budget.expired():
                raise
            raise AgentwireError(
                f"the run did not finish within its {self._run_timeout_s:g}s budget",
                ErrorCode.RUN_TIMEOUT,
            ) from None

    async def _drive(self, run: _Run) -> str:
        """Publish agent_started, then follow the plan; return its answer."""
        plan = self._planner.start(run.spec.content, list(run.spec.history))
        started = AgentStartedData(agent_id=run.agent_id, message=plan.headline)
        seq = await self._publish(run, AgentStarted(**run.ids(), data=started), started_msg_id)
        run.handle.started = True
        run.handle.first_seq = seq
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
                    message_id = answer_message_id(run.spec.run_id)
                    await self._type_out(run, "answer", message_id, answer)
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
        message_id = thought_message_id(run.spec.run_id, run.thoughts)
        await self._type_out(run, "thinking", message_id, thought)
        data = AgentThinkingData(
            agent_id=run.agent_id, thought=thought, step=run.thoughts, message_id=message_id
        )
        await self._publish(run, AgentThinking(**run.ids(), data=data))

    async def _type_out(self, run: _Run, kind: MessageKind, message_id: str, text: str) -> None:
        """Stream ``text`` as a message; return once every delta is stored. Leaving early (a
        stop, a failed publish) stops the writer at once: what it held back is dropped."""

        async def publish(event: AnyEvent) -> int:
            return await self._publish(run, event)

        async with MessageWriter(
            publish,
            **run.ids(),
            agent_id=run.agent_id,
            kind=kind,
            message_id=message_id,
            interval_s=self._typing.flush_s,
        ) as writer:
            await self._typing.type_out(writer, text)
            await writer.finish()

    async def _call_tool(self, run: _Run, step: CallTool) -> ToolObservation:
        request = ToolCallRequest(
            user_id=run.spec.user_id,
            run_id=run.spec.run_id,
            thread_id=run.spec.thread_id,
            tool_call_id=uuid.uuid4().hex,
            tool_name=step.tool_name,
            parameters=step.parameters,
        )
        call_id = request.tool_call_id
        run.handle.check_lease()  # the tool runner publishes for this run: same fence as ours
        # Recorded before the request goes out, so whoever ends this run can stop the call.
        first = not run.handle.started_recorded
        await self._book.open_call(
            call_id,
            run.spec.run_id,
            step.tool_name,
            step.parameters,
            started=first,
            first_seq=run.handle.first_seq if first else None,
        )
        run.handle.started_recorded = True
        run.handle.open_calls += 1
        try:
            reply = await self._tools.call(
                request, lambda stage: self._book.call_stage(call_id, stage)
            )
        except ToolCallError as exc:
            if exc.answered:
                await self._close_call(run, call_id)
            raise  # an unanswered call stays open: ending the run settles it
        await self._close_call(run, call_id)
        return ToolObservation(step.tool_name, step.parameters, reply.result)

    async def _close_call(self, run: _Run, call_id: str) -> None:
        await self._book.close_call(call_id)
        run.handle.open_calls -= 1

    async def _publish(
        self, run: _Run, event: AnyEvent, msg_id: Callable[[str], str] | None = None
    ) -> int:
        run.handle.check_lease()
        fixed_id = None if msg_id is None else msg_id(run.spec.run_id)
        return await self._events.publish(run.spec.user_id, event, msg_id=fixed_id)


def stopped_ending(reason: StopReason | None) -> Ending | None:
    """How a run stopped for ``reason`` ends; None when another process ends it."""
    match reason:
        case StopReason.CANCELLED:
            return Ending.cancelled(CANCEL_REASON)
        case StopReason.SHUTDOWN:
            return Ending.failed(ErrorCode.AGENT_STOPPED, SHUTDOWN_MESSAGE)
        case StopReason.LEASE_LOST | None:
            return None


async def _resolved(step: Step | Awaitable[Step]) -> Step:
    # The Planner interface is synchronous; an LLM plan may return an awaitable step instead,
    # and is awaited here so that swapping planners never touches this loop.
    if inspect.isawaitable(step):
        return await step
    return step
