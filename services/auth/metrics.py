"""The auth service's metrics (``GET /metrics``): logins, registrations, refreshes by outcome.

Outcomes are a closed set: ``ok``, ``invalid_credentials``, ``rate_limited``, ``refused``
(any other refusal). An alert on a burst of ``invalid_credentials`` or ``rate_limited`` is the
sign of a password-guessing run (see docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.auth.ratelimit import RateLimited
from shared.errors import AgentwireError
from shared.metrics import Counter, Registry

__all__ = ["AUTH", "AuthMetrics", "counted", "outcome_of"]


class AuthMetrics:
    def __init__(self) -> None:
        self.registry = r = Registry()
        self.logins = r.counter("agentwire_logins_total", "Login attempts by outcome", ("outcome",))
        self.registrations = r.counter(
            "agentwire_registrations_total", "Account registrations by outcome", ("outcome",)
        )
        self.refreshes = r.counter(
            "agentwire_token_refreshes_total", "Refresh-token rotations by outcome", ("outcome",)
        )


def outcome_of(exc: BaseException | None) -> str:
    if exc is None:
        return "ok"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, AgentwireError) and exc.code == "invalid_credentials":
        return "invalid_credentials"
    return "refused"


@contextmanager
def counted(counter: Counter) -> Iterator[None]:
    """Count the block's outcome (its exception, if any, goes on)."""
    try:
        yield
    except Exception as exc:
        counter.inc(outcome_of(exc))
        raise
    counter.inc("ok")


AUTH = AuthMetrics()  # one auth service per process
