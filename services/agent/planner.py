"""How the agent decides what to do next: the Planner interface and the built-in infra analyst.

The runner knows only this interface: ``planner.start(message, history)`` gives a :class:`Plan`,
and ``plan.next_step(observation)`` answers :class:`Think`, :class:`CallTool` or :class:`Finish`,
being handed the result of the tool it asked for last (None after a Think). An LLM planner slots in
by implementing the same two methods; the runner, the events and the tool calls stay as they are.

:class:`InfraAnalystPlanner` is deterministic: it reads the message (and the thread's earlier
messages) with :func:`~services.agent.understanding.understand`, calls ``analyze_performance``
and then ``detect_anomalies`` or ``estimate_savings``, and words every thought and the answer from
the numbers those tools returned. A message that is not a question about the sample services
(a greeting, "write me a haiku") gets one thought and a short answer saying what the analyst can
do, and no tool call. A message naming ``slow_task`` (``slow_task seconds=30 steps=60 label=x``)
is a diagnostic instead: one call to that tool, for watching cancel and timeouts work.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Protocol

from services.agent import narration as say
from services.agent.applying import apply_request, apply_script
from services.agent.applying import headline as applying_headline
from services.agent.understanding import Request, understand

__all__ = [
    "CallTool",
    "Finish",
    "InfraAnalystPlanner",
    "Plan",
    "Planner",
    "Step",
    "Think",
    "ToolObservation",
    "slow_task_parameters",
]

_SLOW_TASK = re.compile(r"\bslow_task\b")
_SETTING = re.compile(r"\b(\w+)=([\w.-]+)")


@dataclass(frozen=True, slots=True)
class Think:
    thought: str


@dataclass(frozen=True, slots=True)
class CallTool:
    tool_name: str
    parameters: dict[str, Any]
    # The plan goes on if the call fails (its observation is {"error": code, "message": ...})
    # instead of the run failing with the tool's code.
    tolerate_failure: bool = False
    reason: str = ""  # why, for a call the user must approve


@dataclass(frozen=True, slots=True)
class Finish:
    answer: str


Step = Think | CallTool | Finish


@dataclass(frozen=True, slots=True)
class ToolObservation:
    """What a tool returned to the plan that called it."""

    tool_name: str
    parameters: dict[str, Any]
    result: Any


class Plan(Protocol):
    @property
    def headline(self) -> str:
        """One sentence for ``agent_started``: what the agent is about to do."""
        ...

    def next_step(self, observation: ToolObservation | None) -> Step: ...


class Planner(Protocol):
    def start(self, message: str, history: list[str]) -> Plan: ...


Script = Generator[Step, ToolObservation | None, None]


class ScriptedPlan:
    """A Plan written as a generator: each ``yield`` is a step; tool observations are sent in."""

    def __init__(self, headline: str, script: Script) -> None:
        self._headline = headline
        self._script = script
        self._started = False

    @property
    def headline(self) -> str:
        return self._headline

    def next_step(self, observation: ToolObservation | None) -> Step:
        if not self._started:
            self._started = True
            return next(self._script)
        return self._script.send(observation)


class InfraAnalystPlanner:
    """Performance first, then anomalies (or savings, when the user talks money)."""

    def start(self, message: str, history: list[str]) -> Plan:
        diagnostic = slow_task_parameters(message)
        if diagnostic is not None:
            return ScriptedPlan(f"Starting slow_task {diagnostic}", _slow_task(diagnostic))
        applying = apply_request(message, history)
        if applying is not None:
            return ScriptedPlan(applying_headline(*applying), apply_script(*applying))
        request = understand(message, history)
        if not request.in_scope:
            return ScriptedPlan(say.OUT_OF_SCOPE_HEADLINE, _capabilities(request))
        return ScriptedPlan(say.headline(request), _analyse(request))


def slow_task_parameters(message: str) -> dict[str, Any] | None:
    """``slow_task seconds=2 steps=4`` as ``{"seconds": 2, "steps": 4}``; None for any other
    message. The tool runner validates the values, so a bad one fails the run visibly."""
    if not _SLOW_TASK.search(message):
        return None
    return {name: _number_or_text(value) for name, value in _SETTING.findall(message)}


def _number_or_text(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _slow_task(parameters: dict[str, Any]) -> Script:
    yield Think(f"Running slow_task with {parameters or 'its defaults'}, as asked.")
    result = _result((yield CallTool("slow_task", parameters)), "slow_task")
    yield Finish(f"slow_task finished: {result.get('steps')} steps in {result.get('seconds')}s.")


def _capabilities(request: Request) -> Script:
    yield Think(say.out_of_scope())
    yield Finish(say.capabilities(request))


def _analyse(request: Request) -> Script:
    yield Think(say.understanding(request))
    yield Think(say.approach(request))
    first = CallTool("analyze_performance", request.performance_parameters())
    performance = _result((yield first), first.tool_name)
    yield Think(say.performance(request, performance))
    second = _second_call(request, performance)
    follow_up = _result((yield second), second.tool_name)
    focus = second.parameters.get("service")
    if second.tool_name == "estimate_savings":
        yield Think(say.savings(follow_up))
        yield Think(say.conclusion(performance, follow_up))
    else:
        yield Think(say.anomalies(request, follow_up, focus))
        yield Think(say.conclusion(performance))
    yield Finish(say.answer(request, performance, second.tool_name, follow_up, focus))


def _second_call(request: Request, performance: dict[str, Any]) -> CallTool:
    """The second call depends on the first result: with no service named, drill into the worst."""
    if request.intent == "savings":
        return CallTool("estimate_savings", request.savings_parameters())
    focus = request.service
    if focus is None and request.intent is None:
        focus = say.worst_service(performance)
    return CallTool("detect_anomalies", request.anomaly_parameters(focus))


def _result(observation: ToolObservation | None, tool_name: str) -> dict[str, Any]:
    if observation is None or observation.tool_name != tool_name:
        raise RuntimeError(f"the plan asked for {tool_name} but was not given its result")
    if not isinstance(observation.result, dict):
        raise ValueError(f"{tool_name} returned {type(observation.result).__name__}, not an object")
    return observation.result
