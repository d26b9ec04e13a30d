"""When to try a request again, and how long to wait first.

A server that says how long to wait (``Retry-After`` in seconds or as an HTTP date, or OpenAI's
``retry-after-ms``) is believed; otherwise the wait doubles from ``backoff_s``, with jitter so
that agents refused together do not return together. Waits are bounded by ``max_wait_s``: a
server asking for longer than that is not waited for at all, since a run stuck silently for
minutes serves its user worse than a clear ``llm_unavailable`` now.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["Retries", "retry_after_s"]


@dataclass(frozen=True)
class Retries:
    max_retries: int = 3  # attempts after the first; 0 never retries
    backoff_s: float = 0.5  # the first wait when the server names none; doubles each retry
    max_wait_s: float = 20.0  # the longest single wait, Retry-After included

    def delay(self, retries_done: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if retries_done >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait_s else None
        ceiling = min(self.max_wait_s, self.backoff_s * 2**retries_done)
        return random.uniform(ceiling / 2, ceiling)


def retry_after_s(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """How long the response asks us to wait, in seconds; None when it does not say."""
    if (millis := _seconds(headers.get("retry-after-ms"))) is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := _seconds(value)) is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
