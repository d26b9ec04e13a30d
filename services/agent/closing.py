"""Ending a run for good: record how it ended, settle its tool calls, announce the end.

Whoever holds a run ends it the same way: its owner when the run stops, a sweeper when the owner
died, the cancel handler for a run cancelled while queued::

    finish (owner) / take over (sweeper)  the guarded write that makes this process the one
    settle every open tool call           stop it at the tool runner; a call the user may have
                                          seen start gets its tool_completed (error) if no
                                          runner ended it (see _settle)
    agent_started, if never published     so that every run begins with agent_started
    the terminal event                    agent_completed | agent_failed | agent_cancelled
    mark announced                        the run no longer occupies its thread; the terminal
                                          event's seq is recorded as the run's last_seq

``agent_completed`` always names the answer's ``message_id`` (derived from the run id, see
:mod:`services.agent.messages`), whether the answer was streamed or not, and whoever announces it.

Every step may be repeated: ``agent_started``, the terminal event and an agent-made
``tool_executing`` / ``tool_completed`` carry fixed Nats-Msg-Ids (below; the tool runner uses the
same ones for its own), so a second copy is a duplicate the stream drops (within its 120 s
window). If this process dies half-way, its lease runs out and the next sweeper does it again.
"""

from __future__ import annotations

import logging
from typing import Protocol

from services.agent import observe
from services.agent.approval_store import ApprovalStore
from services.agent.approvals import resolved_event
from services.agent.ledger import Queued, StoredCall
from services.agent.messages import answer_message_id
from services.agent.models import CANCEL_REASON, ApprovalStatus, CallStage, Ending, RunStatus
from services.agent.repository import StoredRun
from shared.errors import ErrorCode, EventTooLarge
from shared.wire.events import (
    AgentCancelled,
    AgentCancelledData,
    AgentCompleted,
    AgentCompletedData,
    AgentFailed,
    AgentFailedData,
    AgentStarted,
    AgentStartedData,
    AnyEvent,
    TokenUsage,
    ToolCompleted,
    ToolCompletedData,
    ToolError,
    ToolExecuting,
    ToolExecutingData,
    approval_resolved_msg_id,
    started_msg_id,
    terminal_msg_id,
    tool_completed_msg_id,
    tool_executing_msg_id,
)

__all__ = [
    "CANCEL_REASON",
    "LOST_MESSAGE",
    "Closer",
    "EventSink",
    "agent_id",
]

log = logging.getLogger(__name__)

LOST_MESSAGE = "the agent working on this run stopped responding"
NEVER_STARTED = "This run ended before work on it began"


def agent_id(agent_name: str, run_id: str) -> str:
    return f"{agent_name}_{run_id[:8]}"


class EventSink(Protocol):
    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int: ...


class ToolStopper(Protocol):
    async def cancel(self, tool_call_id: str) -> bool: ...


class EndingLedger(Protocol):
    async def finish(
        self,
        run_id: str,
        ending: Ending,
        *,
        started: bool = False,
        calls_done: bool = False,
        first_seq: int | None = None,
    ) -> StoredRun | None: ...
    async def announce_and_next(
        self, run_id: str, thread_id: str, *, last_seq: int | None = None
    ) -> Queued | None: ...
    async def fail_announced_as(self, run_id: str, code: str, message: str) -> None: ...
    async def get_run(self, run_id: str) -> StoredRun | None: ...
    async def open_calls(self, run_id: str) -> list[StoredCall]: ...
    async def close_call(self, call_id: str) -> None: ...
    async def mark_started(self, run_id: str, *, first_seq: int | None = None) -> None: ...
    async def mark_announced(self, run_id: str, *, last_seq: int | None = None) -> None: ...


class Closer:
    def __init__(
        self,
        *,
        ledger: EndingLedger,
        events: EventSink,
        tools: ToolStopper,
        agent_name: str,
        approvals: ApprovalStore | None = None,
    ) -> None:
        self._approvals = approvals
        self._ledger = ledger
        self._events = events
        self._tools = tools
        self._agent_name = agent_name

    async def close(
        self,
        run_id: str,
        ending: Ending,
        *,
        open_calls: bool = True,
        started: bool = False,
        first_seq: int | None = None,
    ) -> Queued | None:
        """The owner's end of a run: nothing happens if the run is no longer ours to end.
        Returns the thread's next queued run, if any (found as the end is marked announced).

        ``open_calls=False``: the owner knows it left no tool call open (no need to look);
        ``started``: its agent_started is stored (at ``first_seq``, recorded with the end)."""
        run = await self._ledger.finish(
            run_id, ending, started=started, calls_done=not open_calls, first_seq=first_seq
        )
        if run is None:
            return None
        return await self._announce(run, open_calls=open_calls, then_next=True)

    async def refuse(self, run: StoredRun, code: str, message: str) -> None:
        """End a run that was never recorded (its thread is not the user's, say): its
        agent_started and agent_failed, under the ids any repeat of this would use."""
        started = AgentStartedData(agent_id=self._agent_id(run), message=NEVER_STARTED)
        await self._publish(run, AgentStarted(**_ids(run), data=started), started_msg_id(run.id))
        failed = AgentFailedData(agent_id=self._agent_id(run), code=code, message=message)
        await self._publish(run, AgentFailed(**_ids(run), data=failed), terminal_msg_id(run.id))
        observe.run_refused(run.id, code)

    async def recover(self, run_id: str) -> StoredRun | None:
        """End a run this process has just taken over from a holder that stopped renewing."""
        run = await self._ledger.get_run(run_id)
        if run is None:
            return None
        if run.status is RunStatus.RUNNING:
            ending = (
                Ending.cancelled(CANCEL_REASON)
                if run.cancel_requested
                else Ending.failed(ErrorCode.AGENT_LOST, LOST_MESSAGE)
            )
            log.warning("run %s taken over: ending it as %s", run_id, ending.status)
            await self._ledger.finish(run_id, ending)
        await self.announce(run_id)
        return run

    async def announce(self, run_id: str) -> None:
        """Publish what is missing of an ended run's last events, in order, then mark it."""
        run = await self._ledger.get_run(run_id)
        if run is not None:
            await self._announce(run, open_calls=True)

    async def _announce(
        self, run: StoredRun, *, open_calls: bool, then_next: bool = False
    ) -> Queued | None:
        if run.announced or not run.status.is_terminal:
            return None
        if open_calls:
            for call in await self._ledger.open_calls(run.id):
                await self._settle(run, call)
        await self._close_approvals(run)
        if run.started_at is None:
            # Published again if its owner stored it but died before recording it: the stream
            # keeps the first copy, and answers its seq.
            started = AgentStartedData(agent_id=self._agent_id(run), message=NEVER_STARTED)
            first_seq = await self._publish(
                run, AgentStarted(**_ids(run), data=started), started_msg_id(run.id)
            )
            await self._ledger.mark_started(run.id, first_seq=first_seq)
        try:
            last_seq = await self._publish(run, self._terminal(run), terminal_msg_id(run.id))
        except EventTooLarge as exc:
            log.error("run %s: its terminal event is too large to store (%s)", run.id, exc)
            await self._ledger.fail_announced_as(run.id, exc.code, exc.message)
            failed = AgentFailedData(
                agent_id=self._agent_id(run), code=exc.code, message=exc.message
            )
            last_seq = await self._publish(
                run, AgentFailed(**_ids(run), data=failed), terminal_msg_id(run.id)
            )
        observe.run_ended(run)  # counted once its end is stored
        if then_next:
            return await self._ledger.announce_and_next(run.id, run.thread_id, last_seq=last_seq)
        await self._ledger.mark_announced(run.id, last_seq=last_seq)
        return None

    async def _close_approvals(self, run: StoredRun) -> None:
        """An approval still pending (its run stopped, or its agent died) is cancelled, and the
        user told, before the run's end."""
        if self._approvals is None:
            return
        ids = {**_ids(run), "user_id": run.user_id}
        for approval in await self._approvals.pending(run.id):
            closed = await self._approvals.decide(
                approval.id, ApprovalStatus.CANCELLED, decided_by="stop"
            )
            if closed is not None:
                event = resolved_event(closed[0], ids)
                await self._publish(run, event, approval_resolved_msg_id(approval.id))

    async def _settle(self, run: StoredRun, call: StoredCall) -> None:
        """Stop the call where it is. A runner that held it ends it and answers; if none did, a
        call the user may have seen start is ended here.

        A *running* call's tool_executing is stored, so it only needs its tool_completed. A
        *taken* call's may have been stored just before its runner died (the "running"
        heartbeat never left), so it is published again under the runner's own id: the stream
        keeps one copy either way, and the pair is whole. A call never taken showed nothing.
        """
        answered = await self._tools.cancel(call.id)
        if not answered and call.stage is not CallStage.REQUESTED:
            if call.stage is CallStage.TAKEN:
                await self._publish(run, _executing(run, call), tool_executing_msg_id(call.id))
            await self._publish(run, _completed(run, call), tool_completed_msg_id(call.id))
        await self._ledger.close_call(call.id)

    def _terminal(self, run: StoredRun) -> AnyEvent:
        agent = self._agent_id(run)
        usage = _usage(run)
        match run.status:
            case RunStatus.COMPLETED:
                done = AgentCompletedData(
                    agent_id=agent,
                    result=run.result or "",
                    message_id=run.answer_message_id or answer_message_id(run.id),
                    usage=usage,
                )
                return AgentCompleted(**_ids(run), data=done)
            case RunStatus.CANCELLED:
                reason = run.error_message or CANCEL_REASON
                cancelled = AgentCancelledData(agent_id=agent, reason=reason, usage=usage)
                return AgentCancelled(**_ids(run), data=cancelled)
            case _:
                failed = AgentFailedData(
                    agent_id=agent,
                    code=run.error_code or ErrorCode.AGENT_ERROR,
                    message=run.error_message or "the run failed",
                    usage=usage,
                )
                return AgentFailed(**_ids(run), data=failed)

    def _agent_id(self, run: StoredRun) -> str:
        return agent_id(run.agent or self._agent_name, run.id)

    async def _publish(self, run: StoredRun, event: AnyEvent, msg_id: str) -> int:
        return await self._events.publish(run.user_id, event, msg_id=msg_id)


def _usage(run: StoredRun) -> TokenUsage | None:
    if run.input_tokens is None and run.output_tokens is None:
        return None
    return TokenUsage(input_tokens=run.input_tokens or 0, output_tokens=run.output_tokens or 0)


def _ids(run: StoredRun) -> dict[str, str]:
    return {"run_id": run.id, "thread_id": run.thread_id}


def _executing(run: StoredRun, call: StoredCall) -> ToolExecuting:
    data = ToolExecutingData(
        tool_call_id=call.id, tool_name=call.tool_name, parameters=call.parameters
    )
    return ToolExecuting(**_ids(run), data=data)


def _completed(run: StoredRun, call: StoredCall) -> ToolCompleted:
    data = ToolCompletedData(
        tool_call_id=call.id, tool_name=call.tool_name, result=None, error=_error(run)
    )
    return ToolCompleted(**_ids(run), data=data)


def _error(run: StoredRun) -> ToolError:
    """The error a tool call gets when its run ended around it."""
    if run.status is RunStatus.CANCELLED:
        return ToolError(code=ErrorCode.CANCELLED, message="the run was cancelled")
    code = run.error_code or ErrorCode.AGENT_ERROR
    return ToolError(code=code, message=run.error_message or "the run ended first")
