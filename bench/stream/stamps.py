"""Tokens that carry their own hand-over time, and the figures made from them (no I/O).

Every process of the bench runs on one machine, so ``time.time()`` is one clock for all of
them: the publisher writes each token as ``t<microseconds since the epoch> `` at the moment it
hands it to its :class:`~shared.streaming.MessageWriter`, and a client that receives a
``message_delta`` subtracts each of its tokens' stamps from the receipt time. Coalescing,
JetStream, the gateway and the socket are all inside that difference.

The resume scenario's answer uses ordinary words instead (:func:`answer_tokens`): what a resume
transfers is compared with the answer's own size, and a stamp is four times a real token's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bench.stats import LatencyHistogram

__all__ = [
    "answer_tokens",
    "latency_summary",
    "merge",
    "stamp_token",
    "stamped_at",
    "tokens_due",
]

_WORDS = (
    " The", " gateway", " spends", " most", " of", " its", " time", " parsing", " NATS",
    " messages", ",", " and", " the", " p99", " follows", " the", " machine", "'s", " load",
    ".", " Next", ",", " we", " compare", " last", " week", "'s", " baseline", ":",
)  # fmt: skip


def stamp_token(now_s: float) -> str:
    """A token naming the moment it was handed over (``now_s``: ``time.time()``)."""
    return f"t{int(now_s * 1e6)} "


def stamped_at(delta: str) -> list[float]:
    """The hand-over times (seconds) of the stamped tokens in ``delta``.

    A delta is a run of whole tokens (the writer joins what it was given), so splitting on
    spaces finds them; anything that is not a stamp is skipped.
    """
    out = []
    for word in delta.split():
        if word[:1] == "t" and word[1:].isdigit():
            out.append(int(word[1:]) / 1e6)
    return out


def tokens_due(elapsed_s: float, rate: float) -> int:
    """How many tokens a stream at ``rate`` per second has handed over ``elapsed_s`` after its
    first one (which goes at 0)."""
    if elapsed_s < 0:
        return 0
    return math.floor(elapsed_s * rate + 1e-9) + 1


def answer_tokens(n: int) -> list[str]:
    """``n`` tokens of English-like text, 4-5 bytes each as an LLM's are."""
    return [_WORDS[i % len(_WORDS)] for i in range(n)]


def latency_summary(
    hist: LatencyHistogram, exact_max_s: float | None = None
) -> dict[str, float | int | None]:
    """p50/p95/p99/p99.9 and max in milliseconds (max exact when given), and the count."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1e3, 2)

    return {
        "n": hist.n,
        "p50_ms": ms(hist.percentile(50)),
        "p95_ms": ms(hist.percentile(95)),
        "p99_ms": ms(hist.percentile(99)),
        "p999_ms": ms(hist.percentile(99.9)),
        "max_ms": ms(exact_max_s if exact_max_s is not None else hist.percentile(100)),
        "mean_ms": ms(hist.total_s / hist.n) if hist.n else None,
    }


def merge(histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
    merged = LatencyHistogram()
    for hist in histograms:
        merged = merged.merge(hist)
    return merged
