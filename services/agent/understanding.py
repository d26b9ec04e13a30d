"""Reading an infrastructure question: which metric, period, services and intent it is about.

Deliberately simple keyword rules, so the built-in agent runs without a model. A follow-up in a
thread ("again for the db") keeps whatever it does not say from the thread's earlier messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_PERIOD",
    "METRICS",
    "SERVICES",
    "Mentions",
    "Request",
    "read",
    "understand",
]

METRICS = ("latency_ms", "cpu_pct", "memory_pct", "error_rate", "requests_per_s")
SERVICES = ("api", "db", "cache", "worker")
DEFAULT_METRIC = "latency_ms"
# Sizing, and so the bill, follows CPU: a cost question with no metric named is about CPU.
_COST_METRIC = "cpu_pct"
DEFAULT_PERIOD = "7d"
_MAX_DAYS = 30  # the tools keep 30 days of metrics
_Z_THRESHOLD = 3.0
_TARGET_UTILIZATION = 0.6
_HOURLY_COST = 0.5


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)


_METRIC_WORDS = {
    "latency_ms": _words(r"latenc\w*|slow\w*|p50|p9[059]|response[- ]times?|lag\w*"),
    "cpu_pct": _words(r"cpus?|processors?"),
    "memory_pct": _words(r"memory|ram|oom|heap"),
    "error_rate": _words(r"errors?|5xx|failures?|failing"),
    "requests_per_s": _words(r"traffic|throughput|requests?|rps|qps"),
}
_SERVICE_WORDS = {
    "api": _words(r"apis?"),
    "db": _words(r"dbs?|databases?|postgres\w*|mysql|sql"),
    "cache": _words(r"cache\w*|caching|redis|memcached?"),
    "worker": _words(r"workers?|jobs?|background"),
}
# Checked in this order: a question about cost is about cost even if it mentions a spike.
_INTENT_WORDS = {
    "savings": _words(
        r"costs?|costly|savings?|save|(?:over)?spend\w*|money|budget\w*|bills?"
        r"|billing|cheaper|expensive|over-?provision\w*|right-?siz\w*"
    ),
    "anomalies": _words(
        r"anomal\w*|spikes?|spiky|incidents?|outages?|unusual|weird|strange"
        r"|blips?|outliers?"
    ),
}
_AMOUNT = _words(r"(\d{1,4})\s*-?\s*(hours?|hrs?|h|days?|d|weeks?|wks?|w|months?)")
_PERIOD_WORDS = (
    (_words(r"(?:last|past|this) hour|hourly"), "1h"),
    (_words(r"today|yesterday|overnight|last night|(?:last|past) day|daily"), "24h"),
    (_words(r"fortnight"), "14d"),
    (_words(r"weeks?|weekly"), "7d"),
    (_words(r"months?|monthly"), "30d"),
)


@dataclass(frozen=True, slots=True)
class Mentions:
    """What one message says, and nothing it does not."""

    metric: str | None = None
    period: str | None = None
    period_capped: bool = False  # asked for more than the 30 days the tools keep
    services: tuple[str, ...] = ()
    intent: str | None = None  # "savings", "anomalies", or None for a general health question


@dataclass(frozen=True, slots=True)
class Request:
    """The question the agent will answer, with where each part came from."""

    metric: str
    period: str
    services: tuple[str, ...]  # empty: every service
    intent: str | None
    period_capped: bool = False
    defaulted: tuple[str, ...] = ()  # parts the user never gave: "metric", "period"
    inherited: tuple[str, ...] = ()  # parts taken from earlier messages of the thread

    @property
    def service(self) -> str | None:
        """The one service to pass to the tools; several named means "look at all of them"."""
        return self.services[0] if len(self.services) == 1 else None

    def performance_parameters(self) -> dict[str, Any]:
        return _with_service({"metric": self.metric, "period": self.period}, self.service)

    def anomaly_parameters(self, focus: str | None) -> dict[str, Any]:
        parameters = {"metric": self.metric, "period": self.period, "z_threshold": _Z_THRESHOLD}
        return _with_service(parameters, focus)

    def savings_parameters(self) -> dict[str, Any]:
        # Savings are monthly: without a period from the user, measure a whole month.
        period = "30d" if "period" in self.defaulted else self.period
        return {
            "period": period,
            "target_utilization": _TARGET_UTILIZATION,
            "hourly_cost_per_instance": _HOURLY_COST,
        }


def _with_service(parameters: dict[str, Any], service: str | None) -> dict[str, Any]:
    return parameters if service is None else {**parameters, "service": service}


def read(message: str) -> Mentions:
    period, capped = _period(message)
    return Mentions(
        metric=_first_mentioned(_METRIC_WORDS, message),
        period=period,
        period_capped=capped,
        services=_services(message),
        intent=next((name for name, words in _INTENT_WORDS.items() if words.search(message)), None),
    )


def understand(message: str, history: list[str]) -> Request:
    """The question in ``message``, completed from the thread's earlier messages, then defaults."""
    now, earlier = read(message), [read(m) for m in reversed(history)]
    chosen: dict[str, Any] = {}
    inherited: list[str] = []
    for part in ("metric", "period", "services", "intent"):
        source = next((m for m in [now, *earlier] if getattr(m, part)), None)
        chosen[part] = None if source is None else getattr(source, part)
        if source is not None and source is not now:
            inherited.append(part)
    defaulted = tuple(part for part in ("metric", "period") if chosen[part] is None)
    return Request(
        metric=chosen["metric"] or _default_metric(chosen["intent"]),
        period=chosen["period"] or DEFAULT_PERIOD,
        services=chosen["services"] or (),
        intent=chosen["intent"],
        period_capped=now.period_capped,
        defaulted=defaulted,
        inherited=tuple(inherited),
    )


def _default_metric(intent: str | None) -> str:
    return _COST_METRIC if intent == "savings" else DEFAULT_METRIC


def _first_mentioned(table: dict[str, re.Pattern[str]], message: str) -> str | None:
    """The entry whose words appear earliest: "cpu, and latency too" is about cpu first."""
    found = _positions(table, message)
    return min(found)[1] if found else None


def _services(message: str) -> tuple[str, ...]:
    return tuple(name for _, name in sorted(_positions(_SERVICE_WORDS, message)))


def _positions(table: dict[str, re.Pattern[str]], message: str) -> list[tuple[int, str]]:
    return [
        (match.start(), name) for name, words in table.items() if (match := words.search(message))
    ]


def _period(message: str) -> tuple[str | None, bool]:
    """A tool period ("24h", "7d") and whether it had to be cut to the 30 days available."""
    if match := _AMOUNT.search(message):
        amount, unit = int(match.group(1)), match.group(2).lower()
        if amount > 0:
            return _as_period(amount, unit)
    for words, period in _PERIOD_WORDS:
        if words.search(message):
            return period, False
    return None, False


def _as_period(amount: int, unit: str) -> tuple[str, bool]:
    if unit.startswith("h"):
        return (f"{amount}h", False) if amount <= _MAX_DAYS * 24 else (f"{_MAX_DAYS}d", True)
    days = amount * {"d": 1, "w": 7, "m": 30}[unit[0]]
    return (f"{days}d", False) if days <= _MAX_DAYS else (f"{_MAX_DAYS}d", True)
