"""An agent: a name, a one-line description, and an async function of a run.

::

    from agentwire_sdk import RunContext, agent

    @agent(description="Says hello back")
    async def greeter(run: RunContext) -> str:
        await run.think("Someone said hello")
        return f"Hello! You said: {run.message}"

The function returns the answer (a ``str``), or streams it with ``run.answer()`` and returns
``None``. Deployments name agents by ``module:attribute`` (``AGENTS``); :func:`load` resolves one.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    from agentwire_sdk.context import RunContext

__all__ = ["Agent", "AgentFunction", "Headline", "agent", "load"]

AgentFunction = Callable[["RunContext"], Awaitable[str | None]]
Headline = Callable[["RunContext"], str]
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class Agent:
    """``run`` is called once per run, in its own task; a stop cancels that task.

    ``headline(run)``, if given, words the run's ``agent_started`` message ("Starting an
    analysis of ..."); otherwise it is the description."""

    name: str
    description: str
    run: AgentFunction
    headline: Headline | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"agent name {self.name!r}: use 1-64 of A-Z a-z 0-9 _ -")


@overload
def agent(function: AgentFunction, /) -> Agent: ...
@overload
def agent(
    *, name: str | None = None, description: str | None = None
) -> Callable[[AgentFunction], Agent]: ...


def agent(
    function: AgentFunction | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Agent | Callable[[AgentFunction], Agent]:
    """Make an :class:`Agent` of an async function: its name defaults to the function's, its
    description to the first line of its docstring."""

    def make(fn: AgentFunction) -> Agent:
        doc = (fn.__doc__ or "").strip().splitlines()
        return Agent(
            name=name or fn.__name__,
            description=description or (doc[0] if doc else fn.__name__),
            run=fn,
        )

    return make(function) if function is not None else make


def load(spec: str) -> Agent:
    """The :class:`Agent` at ``"package.module:attribute"``."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"agent {spec!r}: expected 'package.module:attribute'")
    found = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(found, Agent):
        raise ValueError(f"agent {spec!r} is not an agentwire_sdk.Agent (use @agent)")
    return found
