"""The calls a tool runner holds right now, and the ones cancelled before they arrived.

A cancel is broadcast to every tool runner (``tools.control.cancel.<tool_call_id>``), because the
caller does not know which runner took the call. The runner holding it stops the tool and answers
once the call's ``tool_completed`` is stored. A runner that does not hold it remembers the id for
a while (a *tombstone*): a call still waiting in this runner's queue, or still on its way, must
never start after its run has been told it stopped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

__all__ = ["InFlight", "InFlightCall", "Tombstones"]

TOMBSTONE_TTL_S = 600.0
MAX_TOMBSTONES = 10_000


@dataclass(slots=True)
class InFlightCall:
    """One call from the moment it is taken until its reply is ready."""

    cancel_requested: bool = False
    running: bool = False  # its tool_executing is stored
    work: asyncio.Future[object] | None = None  # the tool's own coroutine, once it runs
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def request_cancel(self) -> None:
        self.cancel_requested = True
        if self.work is not None:
            self.work.cancel()


class Tombstones:
    """Ids of calls cancelled before this runner saw them, forgotten after ``ttl_s``."""

    def __init__(self, ttl_s: float = TOMBSTONE_TTL_S, max_entries: int = MAX_TOMBSTONES) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._until: dict[str, float] = {}  # insertion order is expiry order

    def add(self, tool_call_id: str) -> None:
        now = time.monotonic()
        self._until.pop(tool_call_id, None)
        self._until[tool_call_id] = now + self._ttl_s
        while self._until:
            oldest = next(iter(self._until))
            if self._until[oldest] > now and len(self._until) <= self._max_entries:
                break
            del self._until[oldest]

    def take(self, tool_call_id: str) -> bool:
        """Whether ``tool_call_id`` was cancelled ahead of time (and forget it)."""
        until = self._until.pop(tool_call_id, None)
        return until is not None and until > time.monotonic()


class InFlight:
    """The calls being handled, by tool call id, plus the tombstones."""

    def __init__(self) -> None:
        self._calls: dict[str, InFlightCall] = {}
        self._tombstones = Tombstones()

    def take(self, tool_call_id: str) -> InFlightCall | None:
        """Register a new call; None if it was cancelled before it arrived (do not run it)."""
        if self._tombstones.take(tool_call_id):
            return None
        call = self._calls[tool_call_id] = InFlightCall()
        return call

    def release(self, tool_call_id: str, call: InFlightCall) -> None:
        if self._calls.get(tool_call_id) is call:
            del self._calls[tool_call_id]
        call.ended.set()

    async def cancel(self, tool_call_id: str) -> bool:
        """Stop the call and wait until it has ended; False (and a tombstone) if not held here."""
        call = self._calls.get(tool_call_id)
        if call is None:
            self._tombstones.add(tool_call_id)
            return False
        call.request_cancel()
        await call.ended.wait()
        return True
