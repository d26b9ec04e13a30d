"""A session's lifecycle, sans I/O: its states, the moves allowed between them, and the guard
every input passes through.

    OPEN ──close()──▶ CLOSING ──closed()──▶ CLOSED
      └───────────────closed()──────────────▶┘

Input that arrives after OPEN is ignored; input whose frames would take the socket's backlog
over its bound closes the session as too slow (``SLOW_CONSUMER``) instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum, auto
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from services.ws_gateway.commands import Command
from services.ws_gateway.outbox import BacklogFull
from shared.errors import CloseCode

__all__ = [
    "SLOW_CONSUMER_REASON",
    "InvalidTransition",
    "State",
    "check_move",
    "while_open",
]

SLOW_CONSUMER_REASON = "client too slow to keep up; reconnect to resume"


class State(Enum):
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


_ALLOWED = {
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug in the caller: the session was asked to move where its lifecycle does not go."""


def check_move(current: State, to: State) -> State:
    """``to``, if the lifecycle goes there from ``current``; else InvalidTransition."""
    if to not in _ALLOWED[current]:
        raise InvalidTransition(f"session cannot go from {current.name} to {to.name}")
    return to


class Guarded(Protocol):
    @property
    def state(self) -> State: ...

    def close(self, code: CloseCode, reason: str) -> list[Command]: ...


P = ParamSpec("P")
S = TypeVar("S", bound=Guarded)


def while_open(
    method: Callable[Concatenate[S, P], list[Command]],
) -> Callable[Concatenate[S, P], list[Command]]:
    """Ignore input once the session is not OPEN; a full backlog closes it as too slow."""

    @functools.wraps(method)
    def guarded(self: S, *args: P.args, **kwargs: P.kwargs) -> list[Command]:
        if self.state is not State.OPEN:
            return []
        try:
            return method(self, *args, **kwargs)
        except BacklogFull:
            return self.close(CloseCode.SLOW_CONSUMER, SLOW_CONSUMER_REASON)

    return guarded
