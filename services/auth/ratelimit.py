"""Login attempt limits per account and per client address: in-memory sliding windows.

What counts is an attempt that did not succeed. An attempt is counted the moment it starts, so a
burst of concurrent guesses cannot all slip in while the first hashes run, and handed back if it
succeeds, so people who log in often (or many users behind one address) are never limited for
logging in correctly. The account is keyed by the normalised email whether or not such an account
exists: a limit that applied only to real accounts would reveal which ones exist.

Per process: several auth processes each allow the limit (documented in docs/security.md). The
number of tracked keys is bounded, so spraying random emails cannot grow memory without end.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import AgentwireError, ErrorCode

__all__ = ["Attempt", "LoginLimiter", "RateLimited", "SlidingWindow"]


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

    def retry_after(self, key: str) -> int | None:
        """Whole seconds until ``key`` may try again, or None if it may now."""
        hits = self._live(key)
        if hits is None or len(hits) < self._limit:
            return None
        return max(1, math.ceil(hits[0] + self._window_s - self._clock()))

    def hit(self, key: str) -> float:
        """Count one hit now; return its time (to :meth:`forgive` it later)."""
        if key not in self._hits and len(self._hits) >= self._max_keys:
            self._evict()
        now = self._clock()
        self._hits.setdefault(key, deque()).append(now)
        return now

    def forgive(self, key: str, at: float) -> None:
        hits = self._hits.get(key)
        if hits is not None and at in hits:
            hits.remove(at)
            if not hits:
                del self._hits[key]

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


@dataclass(frozen=True, slots=True)
class Attempt:
    account: str
    address: str
    at_account: float
    at_address: float


class LoginLimiter:
    """Failed attempts per account and per client address, each in its own sliding window."""

    def __init__(
        self,
        *,
        per_account: int,
        per_address: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = SlidingWindow(per_account, window_s, clock=clock)
        self._addresses = SlidingWindow(per_address, window_s, clock=clock)

    def begin(self, account: str, address: str) -> Attempt:
        """Count an attempt, or raise RateLimited if the account or the address is at its limit."""
        waits = [self._accounts.retry_after(account), self._addresses.retry_after(address)]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            raise RateLimited(f"too many failed attempts; try again in {wait} s", wait)
        return Attempt(account, address, self._accounts.hit(account), self._addresses.hit(address))

    def succeeded(self, attempt: Attempt) -> None:
        """Hand back an attempt that succeeded: only failures use up the limit."""
        self._accounts.forgive(attempt.account, attempt.at_account)
        self._addresses.forgive(attempt.address, attempt.at_address)
