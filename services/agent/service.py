"""The agent's answers to the gateway: cancel, list threads, list runs.

Runs themselves arrive through the RUNS queue (:mod:`services.agent.intake`), not as requests.
Each answer is quick, because the gateway is waiting on a NATS request: cancel records the cancel
and broadcasts it, and the lists read one page of rows (keyset pages, :mod:`services.agent.paging`):
threads most recently used first, a thread's runs newest first, which is what a chat shows first.
A page is also cut to ``reply_budget_bytes``, so its reply fits in one NATS message; its
``next_cursor`` goes on from the last row sent.

Cancel: another user's run and a missing one get the same ``run_not_found``; a run that has
ended answers with its final status (cancelling twice, or too late, is harmless); a run whose
message still waits in the queue is recorded as cancelled from that message (it never starts:
when an agent takes the message it finds the run ended); a queued run is ended here at once; a
running one gets its cancel recorded (so it holds even if its owner has not started it yet) and
broadcast to every agent process, and its owner stops it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar

import nats.errors

from services.agent.approval_store import StoredApproval
from services.agent.control import StopReason
from services.agent.models import RunStatus
from services.agent.paging import (
    BadCursor,
    ListKind,
    Page,
    Position,
    decode_cursor,
    encode_cursor,
    fitting,
)
from services.agent.repository import TITLE_LENGTH, StoredRun, StoredThread
from shared.errors import ErrorCode, InvalidId
from shared.subjects import check_token
from shared.wire.intake import RunIntake

if TYPE_CHECKING:
    from services.agent.intake import Waiting
from shared.wire.runs import (
    MAX_PAGE_LIMIT,
    AgentList,
    CancelAccepted,
    CancelReply,
    CancelRequest,
    Decided,
    DecideRequest,
    ListAgentsRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunInfo,
    RunList,
    RunRejected,
    ThreadInfo,
    ThreadList,
    encode,
)

__all__ = ["AgentService", "CancelLedger", "DoubleTextPolicy", "LocalRuns", "RunStore"]

log = logging.getLogger(__name__)

NO_SUCH_RUN = RunRejected(code=ErrorCode.RUN_NOT_FOUND, message="no such run")
NO_SUCH_THREAD = RunRejected(code=ErrorCode.THREAD_NOT_FOUND, message="no such thread")
NO_SUCH_APPROVAL = RunRejected(code=ErrorCode.APPROVAL_NOT_FOUND, message="no such approval")


class Decider(Protocol):
    async def decide(
        self, user_id: str, approval_id: str, approved: bool, reason: str | None = None
    ) -> tuple[StoredApproval, bool] | None: ...


_Listed = TypeVar("_Listed", ThreadInfo, RunInfo)

# Half of NATS's default max payload (1 MiB): a page of lists is cut to this many bytes of items.
REPLY_BUDGET_BYTES = 512 * 1024


class DoubleTextPolicy(StrEnum):
    QUEUE = "queue"
    REJECT = "reject"


class RunStore(Protocol):
    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None: ...
    async def list_threads(
        self, user_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredThread]: ...
    async def list_runs(
        self, thread_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredRun]: ...
    async def get_run(self, run_id: str) -> StoredRun | None: ...


class WaitingRuns(Protocol):
    """The messages still in the queue (:class:`services.agent.intake.WaitingQueue`)."""

    async def waiting(self, user_id: str, run_id: str) -> tuple[RunIntake, int] | None: ...
    async def of_thread(self, user_id: str, thread_id: str) -> list[Waiting]: ...
    async def of_user(self, user_id: str) -> list[Waiting]: ...


class CancelLedger(Protocol):
    async def record_cancelled(self, intake: RunIntake, seq: int) -> StoredRun | None: ...
    async def cancel_queued(self, run_id: str) -> bool: ...
    async def request_cancel(self, run_id: str) -> bool: ...


class LocalRuns(Protocol):
    """The runs this process holds (:class:`services.agent.tasks.RunTasks`)."""

    def stop(self, run_id: str, reason: StopReason) -> bool: ...
    def announce(self, run: StoredRun) -> None: ...


Broadcast = Callable[[str], Awaitable[None]]  # tells every agent process to stop a run


class AgentService:
    def __init__(
        self,
        *,
        store: RunStore,
        ledger: CancelLedger,
        tasks: LocalRuns,
        queue: WaitingRuns,
        broadcast_cancel: Broadcast,
        reply_budget_bytes: int = REPLY_BUDGET_BYTES,
        agents: AgentList | None = None,
        approvals: Decider | None = None,
    ) -> None:
        self._agents = agents or AgentList(agents=[])
        self._approvals = approvals
        self._store = store
        self._ledger = ledger
        self._tasks = tasks
        self._queue = queue
        self._broadcast_cancel = broadcast_cancel
        self._reply_budget_bytes = reply_budget_bytes

    async def cancel(self, request: CancelRequest) -> CancelReply:
        try:
            _check_ids(request.user_id, run_id=request.run_id)
        except InvalidId as exc:
            return RunRejected(code=exc.code, message=exc.message)
        run = await self._store.get_run(request.run_id)
        if run is None:
            return await self._cancel_waiting(request)
        if run.user_id != request.user_id:
            return NO_SUCH_RUN
        if run.status.is_terminal:
            return _accepted(run.id, run.status)
        if run.status is RunStatus.QUEUED and await self._ledger.cancel_queued(run.id):
            self._tasks.announce(run)
            return _accepted(run.id)
        if not await self._ledger.request_cancel(run.id):  # it ended while we looked
            ended = await self._store.get_run(run.id)
            return _accepted(run.id, ended.status if ended is not None else None)
        self._tasks.stop(run.id, StopReason.CANCELLED)  # ours: no need to wait for the broadcast
        await self._broadcast_cancel(run.id)
        return _accepted(run.id)

    async def _cancel_waiting(self, request: CancelRequest) -> CancelReply:
        """A run whose message no agent has taken yet (or no such run of this user's): record
        it cancelled from its message, then announce it."""
        waiting = await self._queue.waiting(request.user_id, request.run_id)
        if waiting is None:  # never sent, or an agent took it in since we looked: look again
            run = await self._store.get_run(request.run_id)
            if run is None or run.user_id != request.user_id:
                return NO_SUCH_RUN
            return await self.cancel(request)
        cancelled = await self._ledger.record_cancelled(*waiting)
        if cancelled is None:
            if await self._store.get_run(request.run_id) is None:
                return NO_SUCH_RUN  # its thread is not the user's: it will end thread_not_found
            return await self.cancel(request)  # an agent recorded it just now: as any other
        self._tasks.announce(cancelled)
        return _accepted(cancelled.id)

    def stop_local(self, run_id: str) -> None:
        """A cancel broadcast: stop the run if this process holds it."""
        self._tasks.stop(run_id, StopReason.CANCELLED)

    async def decide(self, request: DecideRequest) -> Decided | RunRejected:
        """A person's ``approve`` / ``deny``: the first decision wins; a later one is told the
        decision made (not an error); someone else's approval, or none, is approval_not_found."""
        try:
            _check_ids(request.user_id, request.approval_id)
        except InvalidId as exc:
            return RunRejected(code=exc.code, message=exc.message)
        if request.decision not in ("approved", "denied") or self._approvals is None:
            return NO_SUCH_APPROVAL
        decided = await self._approvals.decide(
            request.user_id, request.approval_id, request.decision == "approved", request.reason
        )
        if decided is None:
            return NO_SUCH_APPROVAL
        approval, first = decided
        return Decided(approval_id=approval.id, decision=approval.status.value, first=first)

    async def list_agents(self, request: ListAgentsRequest) -> AgentList:
        """The agents a message may name (the same in every process of a deployment)."""
        return self._agents

    async def list_threads(self, request: ListThreadsRequest) -> ThreadList | RunRejected:
        """A page of the user's threads, most recently used first. The first page starts with
        the threads whose first message no agent has taken in yet."""
        try:
            _check_ids(request.user_id)
            after = _position(ListKind.THREADS, request.cursor)
        except (InvalidId, BadCursor) as exc:
            return _refusal(exc)
        page = await self._store.list_threads(
            request.user_id, limit=_limit(request.limit), after=after
        )
        listed = [_thread_info(thread) for thread in page.items]
        new = [] if request.cursor else await self._waiting_threads(request.user_id, listed)
        threads, sent = self._fit(new + listed)
        next_cursor = _cursor(ListKind.THREADS, page.next_after(max(0, sent - len(new))))
        return ThreadList(threads=threads, cursor=request.cursor, next_cursor=next_cursor)

    async def list_runs(self, request: ListRunsRequest) -> RunList | RunRejected:
        """A page of one of the user's threads' runs, newest first. The first page starts with
        the runs whose messages no agent has taken in yet (``queued``)."""
        try:
            _check_ids(request.user_id, request.thread_id)
            after = _position(ListKind.RUNS, request.cursor)
        except (InvalidId, BadCursor) as exc:
            return _refusal(exc)
        known = await self._store.find_thread(request.thread_id, request.user_id) is not None
        waiting = [] if request.cursor else await self._waiting_runs(request)
        if not known and not waiting:
            return NO_SUCH_THREAD
        page: Page[StoredRun] = Page([], [], False)
        if known:
            page = await self._store.list_runs(
                request.thread_id, limit=_limit(request.limit), after=after
            )
        listed = [_run_info(run) for run in page.items]
        recorded = {run.run_id for run in listed}
        waiting = [run for run in waiting if run.run_id not in recorded]
        runs, sent = self._fit(waiting + listed)
        return RunList(
            thread_id=request.thread_id,
            runs=runs,
            cursor=request.cursor,
            next_cursor=_cursor(ListKind.RUNS, page.next_after(max(0, sent - len(waiting)))),
        )

    async def _waiting_runs(self, request: ListRunsRequest) -> list[RunInfo]:
        """The thread's runs still in the queue, newest first."""
        try:
            found = await self._queue.of_thread(request.user_id, request.thread_id)
        except (nats.errors.Error, TimeoutError) as exc:  # the list goes on without them
            log.warning("could not look at the queue for thread %s: %r", request.thread_id, exc)
            return []
        return [_waiting_run(w.intake, w.stored_at) for w in reversed(found) if w.intake]

    async def _waiting_threads(self, user_id: str, listed: list[ThreadInfo]) -> list[ThreadInfo]:
        """New threads whose first message is still in the queue, newest first."""
        try:
            found = await self._queue.of_user(user_id)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("could not look at the queue for user %s: %r", user_id, exc)
            return []
        shown = {thread.thread_id for thread in listed}
        return [
            _waiting_thread(w.intake, w.stored_at)
            for w in reversed(found)
            if w.intake is not None and w.intake.new_thread and w.intake.thread_id not in shown
        ]

    def _fit(self, items: list[_Listed]) -> tuple[list[_Listed], int]:
        """The first items whose encoded size fits the reply budget, and how many they are."""
        sent = fitting([len(encode(item)) for item in items], self._reply_budget_bytes)
        return items[:sent], sent


def _check_ids(
    user_id: str,
    thread_id: str | None = None,
    client_msg_id: str | None = None,
    run_id: str | None = None,
) -> None:
    check_token(user_id, "user_id")
    for value, what in ((thread_id, "thread_id"), (client_msg_id, "client_msg_id")):
        if value is not None:
            check_token(value, what)
    if run_id is not None:
        check_token(run_id, "run_id")


def _limit(asked: int) -> int:
    """The page size, within 1..MAX_PAGE_LIMIT (the wire checks it; a direct caller may not)."""
    return min(max(asked, 1), MAX_PAGE_LIMIT)


def _position(kind: ListKind, cursor: str | None) -> Position | None:
    return None if cursor is None else decode_cursor(kind, cursor)


def _cursor(kind: ListKind, position: Position | None) -> str | None:
    return None if position is None else encode_cursor(kind, position)


def _refusal(exc: InvalidId | BadCursor) -> RunRejected:
    if isinstance(exc, InvalidId):
        return RunRejected(code=exc.code, message=exc.message)
    return RunRejected(code=ErrorCode.INVALID_FRAME, message=str(exc))


def _accepted(run_id: str, status: RunStatus | None = None) -> CancelAccepted:
    """``cancelling`` while the end is on its way; an ended run's own final status otherwise."""
    state = "cancelling" if status is None or not status.is_terminal else status.value
    return CancelAccepted(run_id=run_id, state=state)


def _thread_info(thread: StoredThread) -> ThreadInfo:
    return ThreadInfo(
        thread_id=thread.id,
        title=thread.title,
        created_at=thread.created_at,
        updated_at=thread.updated_at,
    )


def _waiting_run(intake: RunIntake, stored_at: float) -> RunInfo:
    return RunInfo(
        run_id=intake.run_id,
        thread_id=intake.thread_id,
        status=RunStatus.QUEUED.value,
        content=intake.content,
        created_at=stored_at,
        client_msg_id=intake.client_msg_id,
    )


def _waiting_thread(intake: RunIntake, stored_at: float) -> ThreadInfo:
    title = intake.content[:TITLE_LENGTH]
    return ThreadInfo(
        thread_id=intake.thread_id, title=title, created_at=stored_at, updated_at=stored_at
    )


def _run_info(run: StoredRun) -> RunInfo:
    return RunInfo(
        run_id=run.id,
        thread_id=run.thread_id,
        status=run.status.value,
        content=run.content,
        created_at=run.created_at,
        finished_at=run.finished_at,
        result=run.result,
        error_code=run.error_code,
        error_message=run.error_message,
        client_msg_id=run.client_msg_id,
        first_seq=run.first_seq,
        last_seq=run.last_seq,
    )
