"""Runs waiting for a person: the approval gate of one agent process.

A run that calls an approval-gated tool (or asks a yes/no question) opens an approval in the
database, stores ``approval_requested`` and waits here. A decision reaches the waiting run two
ways: the process that recorded it broadcasts ``agent.control.approval.<run_id>`` to every agent
process (the owner is any of them), and each waiter also reads its approval back every
``poll_s`` in case that message was lost. At ``expires_at`` the waiter writes ``expired``
itself — with the same guarded write, so a person deciding at that very moment either wins or
sees that the approval expired. Whatever was decided, the run stores ``approval_resolved`` and
goes on; a stop while waiting writes ``cancelled`` first (see :meth:`ApprovalGate.ask`).

While it waits the run gives back its slot (``RunHandle.park``) and its budget is paused: a
person may take minutes, and other users' runs must not wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.agent.approval_store import ApprovalStore, StoredApproval
from services.agent.models import ApprovalStatus
from shared import subjects
from shared.wire.events import (
    AnyEvent,
    ApprovalRequested,
    ApprovalRequestedData,
    ApprovalResolved,
    ApprovalResolvedData,
    approval_requested_msg_id,
    approval_resolved_msg_id,
)

__all__ = ["DEFAULT_APPROVAL_TIMEOUT_S", "ApprovalGate", "Waiting", "resolved_event"]

log = logging.getLogger(__name__)

DEFAULT_APPROVAL_TIMEOUT_S = 600.0
DEFAULT_POLL_S = 1.0


class Publish(Protocol):
    async def __call__(self, event: AnyEvent, msg_id: str | None = None) -> int: ...


class Waiting(Protocol):
    """How a run waits without holding what others need: its slot, its budget's clock."""

    def park(self) -> None: ...
    async def unpark(self) -> None: ...


class ApprovalGate:
    def __init__(
        self,
        store: ApprovalStore,
        *,
        timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S,
        poll_s: float = DEFAULT_POLL_S,
        broadcast: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self._poll_s = poll_s
        self._broadcast = broadcast
        self._waiting: dict[str, asyncio.Event] = {}

    async def subscribe(self, nc: NATS) -> Subscription:
        """Hear every decision recorded by any agent process (no queue group)."""

        async def on_decided(msg: Msg) -> None:
            woken = self._waiting.get(msg.data.decode(errors="replace"))
            if woken is not None:
                woken.set()

        return await nc.subscribe(subjects.approval_decided_wildcard(), cb=on_decided)

    async def decide(
        self, user_id: str, approval_id: str, approved: bool, reason: str | None = None
    ) -> tuple[StoredApproval, bool] | None:
        """A person's decision (``approve`` / ``deny``); None: not that user's, or no such."""
        status = ApprovalStatus.APPROVED if approved else ApprovalStatus.DENIED
        decided = await self.store.decide(approval_id, status, user_id=user_id, reason=reason)
        if decided is not None and decided[1] and self._broadcast is not None:
            await self._broadcast(decided[0].run_id, approval_id)
        return decided

    async def ask(
        self,
        publish: Publish,
        waiting: Waiting,
        *,
        ids: dict[str, str],
        tool_call_id: str,
        tool_name: str,
        parameters: dict[str, Any],
        reason: str,
        question: str | None = None,
    ) -> StoredApproval:
        """Open an approval, tell the user, wait for the decision, tell the user; the decision."""
        approval = StoredApproval(
            id=uuid.uuid4().hex,
            run_id=ids["run_id"],
            user_id=ids["user_id"],
            tool_call_id=tool_call_id,
            tool_name=tool_name,
            parameters=parameters,
            reason=reason,
            question=question,
            status=ApprovalStatus.PENDING,
            decision_reason=None,
            decided_by=None,
            expires_at=time.time() + self.timeout_s,
        )
        await self.store.open(approval)
        await publish(_requested(approval, ids), approval_requested_msg_id(approval.id))
        waiting.park()
        try:
            decided = await self._wait(approval)
        except BaseException:  # a stop (or the lease lost): close it before the run's end
            with contextlib.suppress(Exception):
                await self._close(publish, approval, ids)
            raise
        await publish(resolved_event(decided, ids), approval_resolved_msg_id(approval.id))
        await waiting.unpark()
        return decided

    async def _wait(self, approval: StoredApproval) -> StoredApproval:
        woken = self._waiting[approval.id] = asyncio.Event()
        try:
            while True:
                left = approval.expires_at - time.time()
                if left <= 0:
                    expired = await self.store.decide(
                        approval.id, ApprovalStatus.EXPIRED, decided_by="timeout"
                    )
                    assert expired is not None  # it is ours: nobody deletes approvals
                    return expired[0]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(left, self._poll_s))
                woken.clear()
                current = await self.store.get(approval.id)
                if current is not None and not current.pending:
                    return current
        finally:
            del self._waiting[approval.id]

    async def _close(self, publish: Publish, approval: StoredApproval, ids: dict[str, str]) -> None:
        closed = await self.store.decide(approval.id, ApprovalStatus.CANCELLED, decided_by="stop")
        if closed is not None:
            await publish(resolved_event(closed[0], ids), approval_resolved_msg_id(approval.id))


def _requested(approval: StoredApproval, ids: dict[str, str]) -> ApprovalRequested:
    data = ApprovalRequestedData(
        approval_id=approval.id,
        tool_call_id=approval.tool_call_id,
        tool_name=approval.tool_name,
        parameters=approval.parameters,
        reason=approval.reason,
        expires_at=approval.expires_at,
        question=approval.question,
    )
    return ApprovalRequested(run_id=ids["run_id"], thread_id=ids["thread_id"], data=data)


def resolved_event(approval: StoredApproval, ids: dict[str, str]) -> ApprovalResolved:
    """``approval_resolved`` for a decided approval (also what a sweeper publishes)."""
    data = ApprovalResolvedData(
        approval_id=approval.id,
        decision=approval.status.value,  # type: ignore[arg-type]
        reason=approval.decision_reason,
        decided_by=approval.decided_by or "user",
    )
    return ApprovalResolved(run_id=ids["run_id"], thread_id=ids["thread_id"], data=data)
