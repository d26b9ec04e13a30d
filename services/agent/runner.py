"""The run host: one run of an SDK agent, supervised, and how it ended.

A run names an agent (or gets the deployment's default); the host publishes its
``agent_started``, hands the agent a :class:`~agentwire_sdk.RunContext` (over a
:class:`~services.agent.hosting.HostBackend`: lease-fenced publishes, recorded tool calls), runs it
in a task of its own, and maps what came of it to an :class:`~services.agent.models.Ending`.
:meth:`Runner.run` publishes no terminal event itself: :mod:`services.agent.closing` records the
ending and announces it, the same way a sweeper does for a run whose agent died. Endings:

    the agent returned / streamed its answer     completed (its tool calls and tokens kept)
    AgentError, an uncaught tool failure         failed, with its code (agentwire_sdk.outcome)
    any other exception                          failed, agent_error (logged, not shown)
    the run's time budget                        failed, run_timeout
    a name no agent has                          failed, unknown_agent
    stopped: CANCELLED                           cancelled
    stopped: SHUTDOWN                            failed, agent_stopped
    stopped: LEASE_LOST, or the lease may        None: another process holds the run now
    have run out                                 and announces its end

An agent that ignores a stop (or the budget) for ``stop_grace_s`` is fenced off (nothing it does
reaches the user any more) and the run ends without it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from agentwire_sdk import Agent, RunContext, Turn
from agentwire_sdk.context import answer_message_id
from agentwire_sdk.outcome import Completed, Failed, Outcome, drive
from services.agent.agents.analyst import DEFAULT_MAX_STEPS, analyst
from services.agent.closing import CANCEL_REASON, agent_id
from services.agent.control import LeaseLost, RunHandle, StopReason
from services.agent.hosting import (
    ApprovalPolicy,
    Catalog,
    EventSink,
    HostBackend,
    RunBook,
    RunIds,
    ToolCaller,
    encode_steps,
)
from services.agent.messages import Typing
from services.agent.models import Ending
from services.agent.planner import InfraAnalystPlanner, Planner
from shared.errors import ErrorCode
from shared.streaming import DEFAULT_PROGRESS_INTERVAL_S
from shared.wire.events import AgentStarted, AgentStartedData, started_msg_id

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

DEFAULT_RUN_TIMEOUT_S = 300.0
DEFAULT_STOP_GRACE_S = 5.0
SHUTDOWN_MESSAGE = "the agent service stopped before this run finished"


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything a run needs: who asked, what, where, what was said before, and which agent."""

    run_id: str
    thread_id: str
    user_id: str
    content: str
    history: tuple[Turn, ...] = ()
    agent: str | None = None  # None: the deployment's default


class Runner:
    def __init__(
        self,
        *,
        events: EventSink,
        tools: ToolCaller,
        book: RunBook,
        agent_name: str,
        agents: Mapping[str, Agent] | None = None,
        default_agent: str | None = None,
        planner: Planner | None = None,
        catalog: Catalog | None = None,
        approvals: ApprovalPolicy | None = None,
        think_delay_s: float = 0.0,
        max_steps: int = DEFAULT_MAX_STEPS,
        run_timeout_s: float = DEFAULT_RUN_TIMEOUT_S,
        stop_grace_s: float = DEFAULT_STOP_GRACE_S,
        typing: Typing | None = None,
        progress_interval_s: float = DEFAULT_PROGRESS_INTERVAL_S,
    ) -> None:
        """``agents`` by name (None: the built-in analyst alone, named ``agent_name``, following
        ``planner``); ``typing``: how the analyst streams (None: at once, no pacing)."""
        self._events = events
        self._tools = tools
        self._book = book
        self._catalog = catalog
        self._approvals = approvals
        self._typing = typing or Typing(tokens_per_s=0)
        if agents is None:
            built_in = analyst(
                planner or InfraAnalystPlanner(),
                name=agent_name,
                typing=self._typing,
                think_delay_s=think_delay_s,
                max_steps=max_steps,
            )
            agents = {agent_name: built_in}
        self._agents = dict(agents)
        self._default = default_agent or agent_name
        self._run_timeout_s = run_timeout_s
        self._stop_grace_s = stop_grace_s
        self._progress_interval_s = progress_interval_s

    @property
    def agents(self) -> Mapping[str, Agent]:
        return self._agents

    @property
    def default_agent(self) -> str:
        return self._default

    def agent_id(self, run_id: str, agent: str | None = None) -> str:
        return agent_id(agent or self._default, run_id)

    async def run(self, spec: RunSpec, handle: RunHandle) -> Ending | None:
        """Drive one run until it ends; say how. The run holds one of the process's slots."""
        name = spec.agent or self._default
        agent = self._agents.get(name)
        if agent is None:
            known = ", ".join(sorted(self._agents))
            message = f"there is no agent named {name!r} here; the agents are: {known}"
            return Ending.failed(ErrorCode.UNKNOWN_AGENT, message)
        ids = RunIds(spec.run_id, spec.thread_id, spec.user_id)
        backend = HostBackend(
            ids, handle, self._events, self._tools, self._book, self._catalog, self._approvals
        )
        context = RunContext(
            backend,
            run_id=spec.run_id,
            thread_id=spec.thread_id,
            agent_id=self.agent_id(spec.run_id, name),
            message=spec.content,
            history=spec.history,
            deadline=time.monotonic() + self._run_timeout_s,
            delta_interval_s=self._typing.flush_s,
            progress_interval_s=self._progress_interval_s,
        )
        try:
            await self._start(agent, context, backend, handle)
            outcome = await self._supervise(agent, context, backend)
        except asyncio.CancelledError:
            if handle.reason is None:
                raise  # not a stop this service asked for (the loop is closing): pass it on
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            return _with_record(stopped_ending(handle.reason), backend, context)
        except LeaseLost:
            log.warning("run %s: lease may have run out; leaving it to a sweeper", spec.run_id)
            return None
        if isinstance(outcome, Completed):
            completed = Ending.completed(outcome.answer)
            return _with_record(completed, backend, context, outcome.message_id)
        if outcome.code != ErrorCode.RUN_TIMEOUT:
            log.info("run %s failed: %s", spec.run_id, outcome.code)
        return _with_record(Ending.failed(outcome.code, outcome.message), backend, context)

    async def _start(
        self, agent: Agent, context: RunContext, backend: HostBackend, handle: RunHandle
    ) -> None:
        headline = agent.description
        if agent.headline is not None:
            try:
                headline = agent.headline(context)
            except Exception:
                log.exception("agent %s: its headline failed", agent.name)
        data = AgentStartedData(agent_id=context.agent_id, message=headline)
        event = AgentStarted(run_id=context.run_id, thread_id=context.thread_id, data=data)
        handle.first_seq = await backend.publish(event, started_msg_id(context.run_id))
        handle.started = True

    async def _supervise(self, agent: Agent, context: RunContext, backend: HostBackend) -> Outcome:
        """The agent's outcome, within the budget; a stop (this task cancelled) is passed on
        once the agent's task has ended or been let go."""
        task = asyncio.create_task(drive(agent, context), name=f"agent-{context.run_id}")
        try:
            async with asyncio.timeout(self._run_timeout_s) as budget:
                backend.waiting = _Parking(backend.handle, budget, context)
                return await asyncio.shield(task)
        except TimeoutError:
            await self._halt(task, context, backend)
            return _timed_out(self._run_timeout_s)
        except asyncio.CancelledError:
            await self._halt(task, context, backend)
            raise

    async def _halt(
        self, task: asyncio.Task[Outcome], context: RunContext, backend: HostBackend
    ) -> None:
        """Stop the agent's task; one that ignores it for stop_grace_s is fenced off."""
        context._cancel()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=self._stop_grace_s)
        if not done:
            log.error(
                "run %s: the agent ignored being stopped for %.1fs; fenced off",
                context.run_id,
                self._stop_grace_s,
            )
            backend.fenced = True
            task.add_done_callback(_quietly)


class _Parking:
    """A run waiting for a person: its slot given back, its budget's clock stopped."""

    def __init__(self, handle: RunHandle, budget: asyncio.Timeout, context: RunContext) -> None:
        self._handle = handle
        self._budget = budget
        self._context = context
        self._left: float | None = None

    def park(self) -> None:
        when = self._budget.when()
        if when is not None and self._left is None:
            self._left = when - asyncio.get_running_loop().time()
            self._budget.reschedule(None)
        if self._handle.give_slot is not None:
            self._handle.give_slot()

    async def unpark(self) -> None:
        if self._handle.regain_slot is not None:
            await self._handle.regain_slot()
        if self._left is not None:
            left, self._left = self._left, None
            self._budget.reschedule(asyncio.get_running_loop().time() + left)
            self._context.deadline = time.monotonic() + left


def _timed_out(budget_s: float) -> Outcome:
    message = f"the run did not finish within its {budget_s:g}s budget"
    return Failed(str(ErrorCode.RUN_TIMEOUT), message)


def _with_record(
    ending: Ending | None,
    backend: HostBackend,
    context: RunContext,
    answer_id: str | None = None,
) -> Ending | None:
    """``ending`` with what the run leaves for later: its tool calls, the tokens it spent."""
    if ending is None:
        return None
    usage = context.usage
    spent = usage.input_tokens or usage.output_tokens
    return Ending(
        ending.status,
        result=ending.result,
        error_code=ending.error_code,
        error_message=ending.error_message,
        steps=encode_steps(backend.steps),
        input_tokens=usage.input_tokens if spent else None,
        output_tokens=usage.output_tokens if spent else None,
        answer_message_id=answer_id if answer_id != answer_message_id(context.run_id) else None,
    )


def _quietly(task: asyncio.Task[Outcome]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a fenced-off agent task ended with %r", task.exception())


def stopped_ending(reason: StopReason | None) -> Ending | None:
    """How a run stopped for ``reason`` ends; None when another process ends it."""
    match reason:
        case StopReason.CANCELLED:
            return Ending.cancelled(CANCEL_REASON)
        case StopReason.SHUTDOWN:
            return Ending.failed(ErrorCode.AGENT_STOPPED, SHUTDOWN_MESSAGE)
        case StopReason.LEASE_LOST | None:
            return None
