"""Reading an infrastructure question: whether it is one, and which metric, period, services and
intent it is about.

Deliberately simple keyword rules, so the built-in agent runs without a model:

- a word one slip away from a word the analyst knows is read as that word ("wroker" as worker,
  "latncy" as latency), and the reading says so (:class:`Correction`); short words must be exact;
- a message is in scope when its words score at least :data:`IN_SCOPE_AT`: a service, a metric,
  a cost or anomaly word, or a word about systems in general ("performance", "health") each count,
  and asking for another kind of writing (a haiku, a joke) counts against (:func:`relevance`);
- a follow-up in a thread ("again for the db", "and last month?") keeps whatever it does not say
  from the thread's earlier messages, its scope included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "DEFAULT_METRIC",
    "DEFAULT_PERIOD",
    "IN_SCOPE_AT",
    "METRICS",
    "SERVICES",
    "Correction",
    "Mentions",
    "Request",
    "edit_distance",
    "read",
    "relevance",
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
    # Not "request" alone: "I have a request" is not a question about traffic.
    "requests_per_s": _words(r"traffic|throughput|requests|request rates?|rps|qps"),
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
# Words about running systems in general: enough, on their own, to make a message a question
# for the analyst ("how is performance?", "give me an overview").
_SYSTEM_WORDS = _words(
    r"performance|health\w*|metrics?|infra\w*|services?|servers?|systems?|slos?|slas?"
    r"|bottlenecks?|capacity|utili[sz]ation|usage|fleet|instances?|uptime|overview|status"
)
# Asking for another kind of writing: outweighs one on-topic word ("a haiku about latency").
_OTHER_TASKS = _words(
    r"haikus?|poems?|poetry|limericks?|jokes?|songs?|lyrics|recipes?|translat\w*|essays?"
)
# A message that opens with one of these gets the same word back before anything else.
_GREETINGS = {
    "hello": _words(r"hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening)"),
    "thanks": _words(r"thanks|thank you|thx|cheers"),
}
# Words that carry a thread on ("and the db?", "what about last month?", "again").
_FOLLOW_UP_WORDS = _words(r"and|also|again|too|same|instead|compare\w*|what about|how about|now")

#: The score from which a message is a question for this analyst (see :func:`relevance`).
IN_SCOPE_AT = 2
_ON_TOPIC, _OTHER_TASK = 2, -3

# The words a typo is matched against, each read as the word it was probably meant to be. Only
# words of five letters or more: a short word ("api", "cpu", "ram", "cost") must be typed exactly,
# because one slip from a short word is another real word.
_KNOWN_WORDS = (
    *("worker", "workers", "database", "databases", "postgres", "cache", "redis"),
    *("latency", "latencies", "error", "errors", "failures", "memory"),
    *("traffic", "throughput", "requests", "processor"),
    *("savings", "costly", "budget", "billing", "cheaper", "expensive"),
    *("anomaly", "anomalies", "spikes", "incident", "incidents", "outage", "outages", "unusual"),
    *("performance", "health", "healthy", "metrics", "infrastructure", "services", "bottleneck"),
    *("capacity", "utilisation", "utilization", "overview"),
)
# Real words one slip from a known one, never read as a typo of it.
_NOT_TYPOS = frozenset(
    {"request", "worked", "throughout", "spies", "spices", "outrage", "redid", "servicer"}
)
_MIN_TYPO_LENGTH = 4

_AMOUNT = _words(r"(\d{1,4})\s*-?\s*(hours?|hrs?|h|days?|d|weeks?|wks?|w|months?)")
_PERIOD_WORDS = (
    (_words(r"(?:last|past|this) hour|hourly"), "1h"),
    (_words(r"today|yesterday|overnight|last night|(?:last|past) day|daily"), "24h"),
    (_words(r"fortnight"), "14d"),
    (_words(r"weeks?|weekly"), "7d"),
    (_words(r"months?|monthly"), "30d"),
)


Meaning = Literal["service", "metric", "intent", "topic"]


@dataclass(frozen=True, slots=True)
class Correction:
    """A word read as the known word it is one slip from: ``typed`` "wroker", ``read_as``
    "worker", meaning the ``service`` ``worker``."""

    typed: str
    read_as: str
    meaning: Meaning
    name: str  # the service, metric or intent it stands for; the word itself for a topic word


@dataclass(frozen=True, slots=True)
class Mentions:
    """What one message says, and nothing it does not."""

    metric: str | None = None
    period: str | None = None
    period_capped: bool = False  # asked for more than the 30 days the tools keep
    services: tuple[str, ...] = ()
    intent: str | None = None  # "savings", "anomalies", or None for a general health question
    corrections: tuple[Correction, ...] = ()
    relevance: int = 0  # at IN_SCOPE_AT or above, a question for this analyst
    follows_on: bool = False  # reads as carrying an earlier question on ("and the db?")

    @property
    def in_scope(self) -> bool:
        return self.relevance >= IN_SCOPE_AT


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
    in_scope: bool = True  # False: not a question about the sample services at all
    corrections: tuple[Correction, ...] = ()  # words of this message read as near misses
    greeting: str | None = None  # "hello" or "thanks" when the message opens with one

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
    """What ``message`` says, its near misses read as the words they were meant to be."""
    corrections = _corrections(message)
    text = _corrected(message, corrections)
    period, capped = _period(text)
    said = Mentions(
        metric=_first_mentioned(_METRIC_WORDS, text),
        period=period,
        period_capped=capped,
        services=_services(text),
        intent=next((name for name, words in _INTENT_WORDS.items() if words.search(text)), None),
        corrections=corrections,
    )
    follows_on = bool(period or _FOLLOW_UP_WORDS.search(text))
    return replace(said, relevance=relevance(text, said), follows_on=follows_on)


def relevance(text: str, said: Mentions) -> int:
    """How strongly the words of ``text`` make it a question for this analyst: each of a service,
    a metric, a cost or anomaly word and a word about systems in general counts ``_ON_TOPIC``;
    asking for another kind of writing counts ``_OTHER_TASK``."""
    on_topic = [said.services, said.metric, said.intent, _SYSTEM_WORDS.search(text)]
    other_task = _OTHER_TASKS.search(text) is not None
    return _ON_TOPIC * sum(map(bool, on_topic)) + _OTHER_TASK * other_task


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
        in_scope=_in_scope(now, earlier),
        corrections=now.corrections,
        greeting=_greeting(message),
    )


def _in_scope(now: Mentions, earlier: list[Mentions]) -> bool:
    """In scope on its own words, or a follow-up (with nothing off-topic in it) to a thread that
    was: "and last month?" after a latency question."""
    if now.in_scope:
        return True
    carried_on = now.follows_on and now.relevance >= 0
    return carried_on and any(m.in_scope for m in earlier)


def _greeting(message: str) -> str | None:
    opening = message.lstrip()
    return next((kind for kind, words in _GREETINGS.items() if words.match(opening)), None)


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


def _corrections(message: str) -> tuple[Correction, ...]:
    """Every word of ``message`` that is unknown but one slip (two, for a long word) from a
    known one, with the known word it was probably meant to be."""
    found: dict[str, Correction] = {}
    for word in re.findall(r"[a-z]+", message.lower()):
        if word not in found and (meant := _meant(word)) is not None:
            found[word] = Correction(word, meant, *_meaning(meant))
    return tuple(found.values())


def _meant(word: str) -> str | None:
    if len(word) < _MIN_TYPO_LENGTH or word in _NOT_TYPOS or _is_known(word):
        return None  # too short to guess at, a real word, or no typo at all
    # Typos rarely hit the first letter; requiring it keeps "terror" from reading as "error".
    near = [
        (distance, known)
        for known in _KNOWN_WORDS
        if known[0] == word[0]
        and (distance := edit_distance(word, known)) <= (1 if len(known) < 10 else 2)
    ]
    return min(near)[1] if near else None


def _is_known(word: str) -> bool:
    return _meaning(word)[0] != "topic" or _SYSTEM_WORDS.fullmatch(word) is not None


def _meaning(word: str) -> tuple[Meaning, str]:
    """What a known word stands for: a service, a metric, an intent, or just a topic word."""
    tables: tuple[tuple[Meaning, dict[str, re.Pattern[str]]], ...] = (
        ("service", _SERVICE_WORDS),
        ("metric", _METRIC_WORDS),
        ("intent", _INTENT_WORDS),
    )
    for meaning, table in tables:
        for name, words in table.items():
            if words.fullmatch(word):
                return meaning, name
    return "topic", word


def _corrected(message: str, corrections: tuple[Correction, ...]) -> str:
    if not corrections:
        return message
    meant = {c.typed: c.read_as for c in corrections}
    return re.sub(
        r"[A-Za-z]+", lambda match: meant.get(match.group().lower(), match.group()), message
    )


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``: the
    optimal string alignment distance, so "wroker" is one edit from "worker"."""
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
            if before is not None and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, previous = previous, current
    return previous[-1]
