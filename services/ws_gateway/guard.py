"""A session's credentials and message rate, sans I/O: what may this socket still do?

- :class:`Credentials`: the claims of the token the socket holds now. A fresh token (the client's
  ``auth`` frame) replaces them; the gateway's one expiry timer asks :meth:`Credentials.due`
  whether the socket should be warned or closed; a revocation is matched against them.
- :class:`RateLimiter`: a token bucket per socket (``rate`` frames a second, ``burst`` at once).
  A frame over it is refused; refused frames fill an *abuse meter* that drains at ``rate`` a
  second, and a meter over ``close_after`` means the client keeps flooding: close it.

Neither reads a clock by itself: the limiter is given one (monotonic, injectable in tests), the
credentials are told the wall-clock time, because ``exp`` is wall-clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from shared.tokens import AccessClaims
from shared.wire.revocation import Revocation

__all__ = [
    "DEFAULT_MESSAGES_PER_SECOND",
    "DEFAULT_MESSAGE_BURST",
    "DEFAULT_RATE_LIMIT_CLOSE_AFTER",
    "Credentials",
    "Due",
    "RateLimiter",
    "RateLimits",
    "Verdict",
]

DEFAULT_MESSAGES_PER_SECOND = 20.0
DEFAULT_MESSAGE_BURST = 40
# Refused frames the abuse meter may hold: at 5x the rate the meter gains 4x the rate per second
# and drains 1x, so the default (5 s of 20/s) closes a 5x flood after about 1.7 s and a 2x one
# never (a client that merely overshoots keeps its socket and reads its rate_limited errors).
DEFAULT_RATE_LIMIT_CLOSE_AFTER = 100


class Due(Enum):
    NOTHING = auto()
    WARN = auto()  # expiry is near: tell the client once, so it can send a fresh token
    EXPIRED = auto()  # expired and the grace is over: close


class Credentials:
    """The claims a socket holds; ``None`` claims (tests, old callers) never expire."""

    def __init__(
        self, claims: AccessClaims | None, *, grace_s: float = 30.0, warning_s: float = 60.0
    ) -> None:
        self._claims = claims
        self._grace_s = grace_s
        self._warning_s = warning_s
        self._warned = False

    @property
    def expires_at(self) -> float | None:
        return self._claims.expires_at if self._claims is not None else None

    @property
    def grace_s(self) -> float:
        return self._grace_s

    def renew(self, claims: AccessClaims) -> None:
        """Hold ``claims`` from now on (the caller has checked they are the same user's)."""
        self._claims = claims
        self._warned = False

    def due(self, now: float) -> Due:
        """What the expiry timer should do with this socket at wall-clock ``now``."""
        if self._claims is None:
            return Due.NOTHING
        expires_at = self._claims.expires_at
        if now >= expires_at + self._grace_s:
            return Due.EXPIRED
        if not self._warned and now >= expires_at - self._warning_s:
            self._warned = True
            return Due.WARN
        return Due.NOTHING

    def revoked_by(self, revocation: Revocation) -> bool:
        claims = self._claims
        if claims is None or claims.user_id != revocation.user_id:
            return False
        return revocation.revokes(issued_at=claims.issued_at, session_id=claims.session_id)


@dataclass(frozen=True, slots=True)
class RateLimits:
    messages_per_second: float = DEFAULT_MESSAGES_PER_SECOND
    burst: int = DEFAULT_MESSAGE_BURST
    close_after: int = DEFAULT_RATE_LIMIT_CLOSE_AFTER


class Verdict(Enum):
    ADMIT = auto()
    REFUSE = auto()  # this frame is over the rate: error frame, socket stays
    ABUSE = auto()  # the client keeps flooding: close


class RateLimiter:
    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._tokens = float(limits.burst)
        self._abuse = 0.0
        self._at = clock()

    def admit(self) -> Verdict:
        """Take one frame's token; refuse the frame when there is none."""
        rate = self._limits.messages_per_second
        now = self._clock()
        elapsed = max(0.0, now - self._at)
        self._at = now
        self._tokens = min(float(self._limits.burst), self._tokens + elapsed * rate)
        self._abuse = max(0.0, self._abuse - elapsed * rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Verdict.ADMIT
        self._abuse += 1.0
        return Verdict.ABUSE if self._abuse > self._limits.close_after else Verdict.REFUSE
