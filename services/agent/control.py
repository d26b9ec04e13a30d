"""What a run's task is told from outside: stop (and why), and how long its lease still holds.

A run is stopped by cancelling its task; the task reads :attr:`RunHandle.reason` to decide how
the run ends. The lease deadline is kept on the monotonic clock from the moment each renewal was
*sent*, minus a margin: a run publishes nothing once it may have expired in the database, since a
sweeper may already be announcing its end (the database only tells us at the next renewal).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["LeaseLost", "RunHandle", "StopReason"]

# Stop publishing this share of a lease before it runs out, to cover a publish already under way.
_LEASE_MARGIN = 1 / 6


class StopReason(StrEnum):
    CANCELLED = "cancelled"  # the user asked: the run ends with agent_cancelled
    SHUTDOWN = "shutdown"  # this agent process is stopping: agent_failed agent_stopped
    LEASE_LOST = "lease_lost"  # another process took the run over and announces its end


class LeaseLost(BaseException):
    """This process can no longer be sure it holds the run: it must publish nothing more.

    A BaseException, like a cancel: an agent's ``except Exception`` must not swallow it, and the
    SDK's outcome mapping must not turn it into a failure (another process ends the run)."""


@dataclass(slots=True)
class RunHandle:
    run_id: str
    lease_s: float
    task: asyncio.Task[None] | None = None
    reason: StopReason | None = None
    closing: bool = False  # recording and announcing the end: stopping now would only interrupt
    fenced: bool = False  # abandoned after ignoring a stop: nothing it does may reach the user
    open_calls: int = 0  # tool calls sent and not answered: whoever ends the run settles them
    started: bool = False  # its agent_started is stored
    first_seq: int | None = None  # ... at this seq (recorded with its first call or its ending)
    slot: bool = False  # holds one of the process's run slots (services.agent.tasks.Slots)
    started_recorded: bool = False  # ... and the database knows it
    # Set by whoever holds the run's slot: give it back while the run waits for a person, and
    # take one again (waiting for it) before the run goes on.
    give_slot: Callable[[], None] | None = None
    regain_slot: Callable[[], Awaitable[None]] | None = None
    valid_until: float = field(init=False)

    def __post_init__(self) -> None:
        self.renewed(time.monotonic())

    def renewed(self, sent_at: float) -> None:
        """A renewal sent at ``sent_at`` (monotonic) was accepted."""
        self.valid_until = sent_at + self.lease_s * (1 - _LEASE_MARGIN)

    def fence(self) -> None:
        self.fenced = True

    def check_lease(self) -> None:
        if self.fenced or time.monotonic() > self.valid_until:
            raise LeaseLost(f"the lease on run {self.run_id} may have run out")

    def stop(self, reason: StopReason) -> bool:
        """Stop the run's task for ``reason``; False if it is already stopping or closing."""
        if self.reason is not None or self.closing or self.task is None:
            return False
        self.reason = reason
        self.task.cancel()
        return True
