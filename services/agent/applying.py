"""The analyst applying a recommendation: measure, ask the user, change, say what happened.

"Apply the top recommendation for the api" becomes: analyse the service's latency, say which
change fits it and why, call ``apply_recommendation`` — which the run host holds for the user's
approval (the tool requires it) — and then say plainly what came of it: the change applied and
what to expect, or that nothing was changed because the user denied it, nobody answered in time,
or the change was already there.
"""

from __future__ import annotations

import re
from typing import Any

from services.agent import narration as say
from services.agent.understanding import understand

__all__ = ["CHANGE_FOR", "apply_request", "apply_script"]

# The change that fits each sample service best, when the user does not name one.
CHANGE_FOR = {
    "api": "enable_cache",
    "db": "add_read_replica",
    "cache": "scale_workers",
    "worker": "scale_workers",
}
_WORDS = {
    "enable_cache": "enable a cache in front of",
    "add_read_replica": "add a read replica to",
    "scale_workers": "scale out the workers of",
}
_APPLY = re.compile(r"\b(apply|enact|implement|carry out|do it)\b", re.IGNORECASE)
_NAMED = (
    (re.compile(r"\bcach(e|ing)\b", re.IGNORECASE), "enable_cache"),
    (re.compile(r"\breplica", re.IGNORECASE), "add_read_replica"),
    (re.compile(r"\b(scale|workers?|instances?)\b", re.IGNORECASE), "scale_workers"),
)


def apply_request(message: str, history: list[str]) -> tuple[str, str] | None:
    """``(service, change)`` when the message asks to apply a change; None otherwise."""
    if not _APPLY.search(message):
        return None
    request = understand(message, history)
    service = request.service or "api"
    for pattern, change in _NAMED:
        if pattern.search(message) and not (change == "scale_workers" and service == "worker"):
            return service, change
    return service, CHANGE_FOR.get(service, "scale_workers")


def headline(service: str, change: str) -> str:
    return f"Preparing to {_WORDS[change]} the {service} service (with your approval)"


def apply_script(service: str, change: str) -> Any:
    """A planner script (see :class:`~services.agent.planner.ScriptedPlan`)."""
    from services.agent.planner import CallTool, Finish, Think

    yield Think(
        f"You asked me to apply a recommendation for the {service} service. First I measure its "
        "latency, so we know where it starts from."
    )
    measured = yield CallTool(
        "analyze_performance", {"metric": "latency_ms", "period": "7d", "service": service}
    )
    stats = (measured.result or {}).get("services", {}).get(service, {}) if measured else {}
    p99 = say.num(stats.get("p99"))
    yield Think(
        f"The {service} service runs at p99 {p99} ms. The change that fits it is to "
        f"{_WORDS[change]} it ({change}). It changes the infrastructure, so I ask you first."
    )
    outcome = yield CallTool(
        "apply_recommendation",
        {"service": service, "change": change},
        tolerate_failure=True,
        reason=f"To {_WORDS[change]} the {service} service: its p99 latency is {p99} ms",
    )
    yield Finish(_said(service, change, p99, outcome.result if outcome else None))


def _said(service: str, change: str, p99: str, result: Any) -> str:
    if isinstance(result, dict) and "error" not in result:
        expected = result.get("expected_latency_change_pct")
        return (
            f"Done: I applied {change} to the {service} service (a generated sample). Expect "
            f"its latency to change by about {expected}% from p99 {p99} ms; ask me to analyse "
            f"the {service} again to see it."
        )
    code = result.get("error") if isinstance(result, dict) else None
    why = {
        "approval_denied": "you denied it",
        "approval_expired": "nobody approved it in time",
        "tool_failed": result.get("message", "the change could not be made")
        if isinstance(result, dict)
        else "the change could not be made",
    }.get(str(code), f"it failed ({code})")
    return f"I did not apply {change} to the {service} service: {why}. Nothing was changed."
