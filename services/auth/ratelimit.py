"""Failed-login limits per account and per client address: sliding windows of failures only.

Only failures count, so a correct login never uses up anything: people who log in often, or
many users behind one address, are never limited for logging in correctly. The account is keyed
by the normalised email whether or not such an account exists: a limit that applied only to real
accounts would reveal which ones exist.

Concurrent guesses still cannot slip past a limit. Each attempt in flight holds one unit of its
key's *budget* (the limit minus the failures in the window): a failure spends the unit, a success
hands it back. When every unit left is held, the next attempt waits for one rather than being
refused, and it is refused only once the failures alone reach the limit. So a key never has more
failures than its limit, however many attempts arrive at once::

    account budget 10, 50 wrong guesses at once  ->  10 verified (401), 40 refused (429)
    address budget 100, 300 right logins at once ->  300 succeed, at most 100 in flight

Every attempt takes its account's unit before its address's, always in that order, so two
attempts never wait for each other. Waiting is cheap (a future) and bounded by the requests a
server holds open; a key's entry for units in flight is dropped once nobody holds or waits.

Per process: several auth processes each allow the limit (documented in docs/security.md). The
number of keys with failures is bounded, so spraying random emails cannot grow memory without end.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from shared.errors import AgentwireError, ErrorCode

__all__ = ["Attempt", "FailureBudget", "LoginLimiter", "RateLimited", "SlidingWindow"]


class RateLimited(AgentwireError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window_s`` seconds."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def remaining(self, key: str) -> int:
        """How many more hits ``key`` may have in the window now."""
        hits = self._live(key)
        return self._limit - (len(hits) if hits is not None else 0)

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may have another hit, or None if it may now."""
        hits = self._live(key)
        if hits is None or len(hits) < self._limit:
            return None
        return max(1, math.ceil(hits[0] + self._window_s - self._clock()))

    def hit(self, key: str) -> None:
        if key not in self._hits and len(self._hits) >= self._max_keys:
            self._evict()
        self._hits.setdefault(key, deque()).append(self._clock())

    def _live(self, key: str) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        cutoff = self._clock() - self._window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def _evict(self) -> None:
        """Drop keys with no hit left in the window, then the oldest tenth if still full.

        A tenth at a time, so a flood of new keys pays for a full scan once per many keys.
        """
        for key in list(self._hits):
            self._live(key)
        if len(self._hits) >= self._max_keys:
            for key in list(self._hits)[: max(1, self._max_keys // 10)]:
                del self._hits[key]


@dataclass(slots=True)
class Attempt:
    """One attempt in flight. Say :meth:`failed` before it ends, or it counts as no failure."""

    has_failed: bool = False

    def failed(self) -> None:
        self.has_failed = True


class _Holders:
    """The attempts on one key that hold a unit of its budget, and those waiting for one."""

    __slots__ = ("holding", "present", "waiting")

    def __init__(self) -> None:
        self.holding = 0
        self.present = 0  # holding + waiting: the entry goes when this is back to 0
        self.waiting: deque[asyncio.Future[None]] = deque()


class FailureBudget:
    """At most ``limit`` failures per key in any ``window_s`` seconds, attempts in flight included.

    ``refusal`` names what was limited in the 429 message, e.g. "too many failed logins for this
    account".
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        refusal: str,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._failures = SlidingWindow(limit, window_s, clock=clock, max_keys=max_keys)
        self._refusal = refusal
        self._holders: dict[str, _Holders] = {}

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None if it may now."""
        return self._failures.retry_after(key)

    def refused(self, wait_s: int) -> RateLimited:
        return RateLimited(f"{self._refusal}; try again in {wait_s} s", wait_s)

    @asynccontextmanager
    async def attempt(self, key: str, shared: Attempt | None = None) -> AsyncIterator[Attempt]:
        """Hold a unit of ``key``'s budget for the block; raise RateLimited if none is left.

        ``shared``: an attempt already holding a unit of another budget, whose outcome counts
        here too.
        """
        attempt = shared or Attempt()
        holders = self._holders.get(key) or self._holders.setdefault(key, _Holders())
        holders.present += 1
        try:
            await self._take_unit(key, holders)
            try:
                yield attempt
            finally:
                holders.holding -= 1
                if attempt.has_failed:
                    self._failures.hit(key)
                self._wake(key, holders)
        finally:
            holders.present -= 1
            if holders.present == 0:
                del self._holders[key]

    async def _take_unit(self, key: str, holders: _Holders) -> None:
        while True:
            left = self._failures.remaining(key)
            if left <= 0:
                raise self.refused(self._failures.retry_after(key) or 1)
            if holders.holding < left:
                holders.holding += 1
                return
            waiter = asyncio.get_running_loop().create_future()
            holders.waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Woken and cancelled at once: pass the wake-up on, or a unit could sit idle.
                if waiter in holders.waiting:
                    holders.waiting.remove(waiter)
                self._wake(key, holders)
                raise

    def _wake(self, key: str, holders: _Holders) -> None:
        """Wake as many waiters as there are free units; all of them once the budget is spent.

        A waiter woken for nothing looks again and waits again, so waking too many is harmless;
        waking too few could leave a waiter asleep with a unit free.
        """
        left = self._failures.remaining(key)
        free = len(holders.waiting) if left <= 0 else left - holders.holding
        while free > 0 and holders.waiting:
            waiter = holders.waiting.popleft()
            if not waiter.done():  # a cancelled waiter's future is done already
                waiter.set_result(None)
                free -= 1


class LoginLimiter:
    """Failed logins per account and per client address, each a :class:`FailureBudget`."""

    def __init__(
        self,
        *,
        per_account: int,
        per_address: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = FailureBudget(
            per_account, window_s, refusal="too many failed logins for this account", clock=clock
        )
        self._addresses = FailureBudget(
            per_address, window_s, refusal="too many failed logins from this address", clock=clock
        )

    @asynccontextmanager
    async def attempt(self, account: str, address: str) -> AsyncIterator[Attempt]:
        """Run the block as one attempt on ``account`` from ``address``; call ``failed()`` in it
        if the credentials were wrong. Raises RateLimited saying which limit was reached.
        """
        self._refuse_if_spent(account, address)
        # Account first, then address, always: see the module docstring.
        async with (
            self._accounts.attempt(account) as attempt,
            self._addresses.attempt(address, attempt),
        ):
            yield attempt

    def _refuse_if_spent(self, account: str, address: str) -> None:
        """Refuse at once, naming both limits if both are reached, with the longer wait."""
        on_account = self._accounts.retry_after(account)
        on_address = self._addresses.retry_after(address)
        if on_account is not None and on_address is not None:
            wait = max(on_account, on_address)
            raise RateLimited(
                "too many failed logins for this account and from this address; "
                f"try again in {wait} s",
                wait,
            )
        if on_account is not None:
            raise self._accounts.refused(on_account)
        if on_address is not None:
            raise self._addresses.refused(on_address)
