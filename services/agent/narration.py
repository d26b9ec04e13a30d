"""The built-in analyst's words: every thought and the final answer, worded from the tool results.

Tool results arrive as plain JSON objects, so every number is read defensively: a field the tool
did not send reads as "n/a" rather than ending the run. The numbers come from a generated sample,
and the answer says so once. A message that is not a question for the analyst gets what it can
do instead (:func:`capabilities`).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from services.agent.understanding import Correction, Request

__all__ = [
    "OUT_OF_SCOPE_HEADLINE",
    "anomalies",
    "answer",
    "approach",
    "capabilities",
    "conclusion",
    "headline",
    "num",
    "out_of_scope",
    "performance",
    "recommendations",
    "savings",
    "understanding",
    "worst_service",
]

_LABELS = {
    "latency_ms": "latency",
    "cpu_pct": "CPU use",
    "memory_pct": "memory use",
    "error_rate": "error rate",
    "requests_per_s": "traffic",
}
_UNITS = {
    "latency_ms": " ms",
    "cpu_pct": "%",
    "memory_pct": "%",
    "error_rate": "%",  # of requests; the label says "error rate"
    "requests_per_s": " req/s",
}
_FOCUS = {
    "savings": ", then what right-sizing would save",
    "anomalies": ", then a scan for anomalies",
    None: ", then a closer look at the weakest service",
}
_NEXT_STEP = {
    "savings": "Then estimate_savings, to put a monthly figure on capacity nobody uses.",
    "anomalies": "Then detect_anomalies at z >= 3, to find the hours that left their pattern.",
    None: "Then detect_anomalies on whichever service comes out worst, to tell a sustained "
    "problem from a few bad hours.",
}
_DEFAULT_METRIC_NOTE = {
    "latency_ms": "No metric was named, so I start with latency, the one users feel first.",
    "cpu_pct": "No metric was named; for cost, CPU is the one to read, since sizing follows it.",
}
_INTENT_LABELS = {"savings": "cost", "anomalies": "anomalies"}
_SAMPLE_NOTE = "generated sample data, not live metrics"

OUT_OF_SCOPE_HEADLINE = "Replying with what the infrastructure analyst can do"
_OPENINGS = {
    "hello": "Hello! I am agentwire's built-in infrastructure analyst.",
    "thanks": "You're welcome.",
    None: "That is outside what I can do.",
}
_CAN_DO = (
    "I analyse the latency, errors and cost of four sample services (api, db, cache and "
    "worker) from a generated metrics sample, not a live system: their CPU, memory and "
    "traffic too, the anomalies in them, and what right-sizing would save."
)
_EXAMPLES = (
    "Why is the api slow this week?",
    "Any error spikes in the worker over the last 24 hours?",
    "Where could we save money on the db?",
)
_INTENT_NOTE = {
    "savings": "You asked about cost, so I will also estimate what right-sizing would save.",
    "anomalies": "You mentioned spikes or incidents, so I will scan for anomalies as well.",
}


def headline(request: Request) -> str:
    return (
        f"Starting infrastructure analysis: {_label(request)} for {_scope(request.services)} "
        f"over the last {_period(request.period)}{_FOCUS[request.intent]}"
    )


def out_of_scope() -> str:
    return (
        "This is not a question about the sample services' latency, errors, cost or load, so "
        "there is nothing for my tools to measure; I will say what I can do instead."
    )


def capabilities(request: Request) -> str:
    """The short answer to a message outside the analyst's scope: what it can do, and examples."""
    return "\n".join(
        [f"{_OPENINGS[request.greeting]} {_CAN_DO}", "Try asking:", *(f"- {q}" for q in _EXAMPLES)]
    )


def understanding(request: Request) -> str:
    # "I read 'wroker' as the worker service, so this is ..." says what a typo was taken for.
    read_as = _and([_correction(c) for c in request.corrections])
    opening = f"I read {read_as}, so this is" if read_as else "I read this as"
    said = [
        f"{opening} a question about {_label(request)} ({request.metric}) for "
        f"{_scope(request.services)} over the last {_period(request.period)}."
    ]
    if request.inherited:
        kept = _and([f"the {part} ({_shown(request, part)})" for part in request.inherited])
        said.append(f"It follows on from earlier in this thread, so I am keeping {kept}.")
    if "metric" in request.defaulted:
        said.append(_DEFAULT_METRIC_NOTE[request.metric])
    if "period" in request.defaulted:
        said.append("No period was given, so I use the last 7 days: a full weekly cycle.")
    if request.period_capped:
        said.append("Metrics only go back 30 days, so I will use all 30.")
    if request.intent in _INTENT_NOTE:
        said.append(_INTENT_NOTE[request.intent])
    return " ".join(said)


def approach(request: Request) -> str:
    return (
        f"First, analyze_performance on {request.metric} over {request.period} for "
        f"{_scope(request.services)}, to see which service is in the worst shape and which way "
        f"it is heading. {_NEXT_STEP[request.intent]}"
    )


def performance(request: Request, result: dict[str, Any]) -> str:
    services, worst = _services(result), worst_service(result)
    if worst is None:
        return (
            f"analyze_performance found no {_label(request)} data for "
            f"{_scope(request.services)}; there is nothing to rank."
        )
    by = f" by {result['worst_by']}" if result.get("worst_by") else ""
    verdict = f"{worst} comes out worst{by}" if len(services) > 1 else worst
    said = [f"{verdict}: {_stats(request, services[worst])}."]
    said += _trend(_float(services[worst].get("trend_pct")))
    if len(services) > 1:
        best = min(services, key=lambda svc: _float(services[svc].get("p99")) or 0.0)
        said.append(f"For comparison, {best} has p99 {_value(request, services[best].get('p99'))}.")
    recs = recommendations(result)
    if recs:
        said.append(f"Its first recommendation: {recs[0]}.")
    return " ".join(said)


def anomalies(request: Request, result: dict[str, Any], service: str | None) -> str:
    found, count = _anomalies(result)
    z = num(result.get("threshold"))
    where = _scope((service,) if service else ())
    if not count:
        return (
            f"No {_label(request)} reading in {where} strayed more than {z} standard "
            "deviations from normal, so the pattern above is steady, not a few bad hours."
        )
    said = [f"{count} {'anomaly' if count == 1 else 'anomalies'} beyond z={z} in {where}."]
    if found:
        said.append(f"The largest: {_anomaly(request, found[0])}.")
    per_service = Counter(str(anomaly.get("service", "?")) for anomaly in found)
    if len(per_service) > 1:
        # The tool lists the strongest few; counting per service only covers those.
        among = "By service" if len(found) >= count else f"Of the {len(found)} listed, by service"
        said.append(f"{among}: " + ", ".join(f"{s} {n}" for s, n in per_service.items()) + ".")
    return " ".join(said)


def savings(result: dict[str, Any]) -> str:
    total, pct = _savings_total(result)
    target = _float(result.get("target_utilization"))
    at = f" at {target:.0%} utilisation" if target is not None else ""
    if total is None:
        return "estimate_savings returned no total, so I cannot put a figure on right-sizing."
    if total <= 0:
        return (
            f"Sizing for peak CPU{at} would not save money: the fleet needs "
            f"{_money(-total)} a month more than it costs today."
        )
    said = [
        f"Sizing each service for peak CPU{at} would save about {_money(total)} a month "
        f"({num(pct)}% of the current bill)."
    ]
    services = _services(result)
    if services:
        top = max(services, key=lambda svc: _float(services[svc].get("monthly_savings")) or 0.0)
        fleet = services[top]
        said.append(
            f"The biggest share is {top}: {_money(fleet.get('monthly_savings'))} a month "
            f"({fleet.get('current_instances', '?')} -> "
            f"{fleet.get('needed_instances', '?')} instances)."
        )
    return " ".join(said)


def conclusion(result: dict[str, Any], savings_result: dict[str, Any] | None = None) -> str:
    """What to do first: the money, when the user asked about it, then the worst service."""
    recs = recommendations(result)
    worst = worst_service(result) or "no service"
    said = "Putting it together: "
    total = None if savings_result is None else _savings_total(savings_result)[0]
    if total is not None and total > 0:
        said += f"right-sizing is worth about {_money(total)} a month. Meanwhile "
    if not recs:
        return said + f"{worst} is the one to watch, but nothing needs action now."
    said += f"{worst} is where to start: {recs[0]}."
    return said + (f" After that: {recs[1]}." if len(recs) > 1 else "")


def answer(
    request: Request,
    performance_result: dict[str, Any],
    second_tool: str,
    second_result: dict[str, Any],
    service: str | None,
) -> str:
    services = _services(performance_result)
    worst = worst_service(performance_result)
    label = _label(request)
    lines = [
        f"{label[0].upper()}{label[1:]} for {_scope(request.services)}, "
        f"last {_period(request.period)} ({_SAMPLE_NOTE}):"
    ]
    ranked = sorted(services, key=lambda svc: svc != worst)
    lines += [f"- {svc}: {_stats(request, services[svc])}" for svc in ranked]
    if worst is not None and len(services) > 1:
        lines.append(f"Worst: {worst}.")
    if second_tool == "estimate_savings":
        lines.append(savings(second_result))
    else:
        lines.append(anomalies(request, second_result, service))
    recs = recommendations(performance_result)
    if recs:
        lines += ["Recommendations:", *(f"- {rec}" for rec in recs[:5])]
    return "\n".join(lines)


def worst_service(result: dict[str, Any]) -> str | None:
    """The tool's own verdict if it gave one, else the highest p99."""
    services = _services(result)
    named = result.get("worst_service")
    if named in services:
        return str(named)
    if not services:
        return None
    return max(services, key=lambda svc: _float(services[svc].get("p99")) or 0.0)


def recommendations(result: dict[str, Any]) -> list[str]:
    recs = result.get("recommendations")
    return [str(rec).rstrip(".") for rec in recs] if isinstance(recs, list) else []


def num(value: Any) -> str:
    """A number as a person would quote it: 1,234, 412.3, 0.012."""
    x = _float(value)
    if x is None:
        return "n/a"
    if x == 0 or abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.1f}" if abs(x) >= 1 else f"{x:.2g}"


def _stats(request: Request, stats: dict[str, Any]) -> str:
    said = (
        f"p99 {_value(request, stats.get('p99'))}, p50 {_value(request, stats.get('p50'))}, "
        f"avg {_value(request, stats.get('avg'))}"
    )
    trend = _float(stats.get("trend_pct"))
    # "or 0.0" turns a -0.0 (a tiny fall, rounded) into a plain 0.0.
    return said if trend is None else said + f", trend {round(trend, 1) or 0.0:+.1f}%"


def _trend(trend: float | None) -> list[str]:
    """The tool's trend compares the second half of the period with the first."""
    if trend is None:
        return []
    if abs(trend) < 5:
        return [f"It has held steady ({trend:+.1f}% between the two halves of the period)."]
    direction = "rising" if trend > 0 else "falling"
    return [
        f"It is {direction}: the second half of the period ran {abs(trend):.1f}% "
        f"{'above' if trend > 0 else 'below'} the first."
    ]


def _anomaly(request: Request, found: dict[str, Any]) -> str:
    z = _float(found.get("z"))
    said = (
        f"{found.get('service', '?')} at {_value(request, found.get('value'))} on "
        f"{_when(found.get('at'))} (z={'n/a' if z is None else f'{z:+.1f}'}"
    )
    if "expected" in found:
        said += f", where {_value(request, found.get('expected'))} is usual"
    return said + ")"


def _when(at: Any) -> str:
    """A tool's ISO timestamp as a person reads it: "Sat 5 Dec 15:00 UTC"."""
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        return str(at) if at is not None else "?"
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} UTC"


def _anomalies(result: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    found = [a for a in result.get("anomalies") or [] if isinstance(a, dict)]
    found.sort(key=lambda a: -abs(_float(a.get("z")) or 0.0))
    count = result.get("count")
    return found, count if isinstance(count, int) else len(found)


def _savings_total(result: dict[str, Any]) -> tuple[float | None, float | None]:
    # Either {"total": {"monthly_savings", "savings_pct"}} or the same at the top level.
    total = result.get("total")
    source = total if isinstance(total, dict) else result
    amount = source.get("monthly_savings", source.get("total_monthly_savings"))
    return _float(amount), _float(source.get("savings_pct"))


def _services(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = result.get("services")
    if not isinstance(services, dict):
        return {}
    return {str(name): stats for name, stats in services.items() if isinstance(stats, dict)}


def _float(value: Any) -> float | None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else None


def _value(request: Request, value: Any) -> str:
    shown = num(value)
    return shown if shown == "n/a" else shown + _UNITS[request.metric]


def _money(value: Any) -> str:
    x = _float(value)
    return "n/a" if x is None else f"${x:,.2f}"


def _label(request: Request) -> str:
    return _LABELS[request.metric]


def _scope(services: tuple[str, ...]) -> str:
    if not services:
        return "all services"
    if len(services) == 1:
        return f"the {services[0]} service"
    return f"the {_and(list(services))} services"


def _and(items: list[str]) -> str:
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _period(period: str) -> str:
    amount, unit = int(period[:-1]), {"h": "hour", "d": "day"}[period[-1]]
    return f"{amount} {unit}" if amount == 1 else f"{amount} {unit}s"


def _correction(correction: Correction) -> str:
    match correction.meaning:
        case "service":
            meant = f"the {correction.name} service"
        case "metric":
            meant = _LABELS.get(correction.name, correction.read_as)
        case "intent":
            meant = f"a question about {_INTENT_LABELS.get(correction.name, correction.name)}"
        case _:
            meant = f"'{correction.read_as}'"
    return f"'{correction.typed}' as {meant}"


def _shown(request: Request, part: str) -> str:
    match part:
        case "metric":
            return _label(request)
        case "period":
            return _period(request.period)
        case "services":
            return ", ".join(request.services)
        case _:
            return str(request.intent)
