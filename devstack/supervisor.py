"""``./dev up`` as a process supervisor: a process that dies is started again, the others run on.

One ``Restarts`` per supervised process (sans I/O: it is told the time and what happened)::

    DOWN ──started──▶ STARTING ──ready──▶ READY
      ▲                  │                  │
      └──────exited──────┴──────exited──────┘      wait 0.5 s, doubling to 10 s; back to 0.5 s
                         │                          once the process had stayed up 10 s
                         └─ the 5th exit in a row before ready ──▶ GAVE_UP: the stack stops

A process that keeps dying at start-up is misconfigured (a bad setting, a port in use): starting
it for ever would only bury the reason, which is in its output just above the last exit line.
The ``Supervisor`` does the I/O: it polls the processes, starts them, and says what it did.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Protocol

__all__ = [
    "Child",
    "GaveUp",
    "InvalidTransition",
    "Phase",
    "RestartPolicy",
    "Restarts",
    "StopRequests",
    "Supervisor",
    "describe_exit",
]


class Phase(Enum):
    DOWN = auto()  # not running; started again at ``start_at``
    STARTING = auto()  # running, not ready yet
    READY = auto()
    GAVE_UP = auto()


_ALLOWED = {
    Phase.DOWN: frozenset({Phase.STARTING}),
    Phase.STARTING: frozenset({Phase.READY, Phase.DOWN, Phase.GAVE_UP}),
    Phase.READY: frozenset({Phase.DOWN}),
    Phase.GAVE_UP: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A bug in the supervisor: a process was moved where its lifecycle does not go."""


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    stable_after_s: float = 10.0  # up this long: the next crash waits first_delay_s again
    max_start_failures: int = 5  # exits in a row before ever being ready: give up


@dataclass
class Restarts:
    """When to start one process again, and when to stop trying."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    phase: Phase = Phase.DOWN
    start_at: float = 0.0
    started_at: float = 0.0
    start_failures: int = 0  # exits in a row before ready
    _next_delay_s: float = -1.0

    def __post_init__(self) -> None:
        self._next_delay_s = self.policy.first_delay_s

    def due(self, now: float) -> bool:
        return self.phase is Phase.DOWN and now >= self.start_at

    def started(self, now: float) -> None:
        self._move(Phase.STARTING)
        self.started_at = now

    def became_ready(self) -> None:
        self._move(Phase.READY)
        self.start_failures = 0

    def exited(self, now: float) -> float | None:
        """The delay before the next start, or None: it kept dying at start-up, give up."""
        if self.phase is Phase.STARTING:
            self.start_failures += 1
            if self.start_failures >= self.policy.max_start_failures:
                self._move(Phase.GAVE_UP)
                return None
        self._move(Phase.DOWN)
        if now - self.started_at >= self.policy.stable_after_s:
            self._next_delay_s = self.policy.first_delay_s
        delay = self._next_delay_s
        self._next_delay_s = min(delay * 2, self.policy.max_delay_s)
        self.start_at = now + delay
        return delay

    def _move(self, to: Phase) -> None:
        if to not in _ALLOWED[self.phase]:
            raise InvalidTransition(f"cannot go from {self.phase.name} to {to.name}")
        self.phase = to


def describe_exit(status: int | None) -> str:
    """``exited with status 1``, ``was killed by SIGKILL``: a returncode in words."""
    if status is None:
        return "failed to start"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


class Child(Protocol):
    """A running process as the supervisor sees it (ServiceProcess, EmbeddedNats)."""

    @property
    def pid(self) -> int: ...

    def poll(self) -> int | None: ...

    def is_ready(self) -> bool: ...

    def stop(self) -> object: ...


class GaveUp(Exception):
    """A process kept dying before it was ready; the message says which and how."""


@dataclass
class _Supervised:
    name: str
    spawn: Callable[[], Child]
    restarts: Restarts
    child: Child | None = None


class Supervisor:
    """Keeps processes running: ``tick`` once in a while, or ``run`` until asked to stop."""

    def __init__(
        self,
        say: Callable[[str], None],
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._say = say
        self._policy = policy or RestartPolicy()
        self._clock = clock
        self._supervised: list[_Supervised] = []

    def add(self, name: str, spawn: Callable[[], Child], running: Child | None = None) -> None:
        """Supervise ``name``: started by ``spawn`` at the next tick, unless already ``running``."""
        entry = _Supervised(name, spawn, Restarts(self._policy))
        if running is not None:
            entry.restarts.started(self._clock())
            entry.child = running
            self._say(f"{name} started (pid {running.pid})")
        self._supervised.append(entry)

    def all_ready(self) -> bool:
        return all(entry.restarts.phase is Phase.READY for entry in self._supervised)

    def run(
        self, stopping: threading.Event, on_up: Callable[[], None], tick_s: float = 0.1
    ) -> None:
        """Supervise until ``stopping`` is set; ``on_up`` once everything first is ready.
        Raises GaveUp when a process keeps dying at start-up."""
        announced = False
        while not stopping.is_set():
            self.tick()
            if not announced and self.all_ready():
                announced = True
                on_up()
            stopping.wait(tick_s)

    def tick(self) -> None:
        for entry in self._supervised:
            self._check(entry, self._clock())

    def _check(self, entry: _Supervised, now: float) -> None:
        restarts = entry.restarts
        if restarts.due(now):
            self._start(entry, now)
        elif entry.child is not None and restarts.phase in (Phase.STARTING, Phase.READY):
            status = entry.child.poll()
            if status is not None:
                entry.child.stop()  # reap it; a service's last words reach the console first
                self._exited(entry, status, now)
            elif restarts.phase is Phase.STARTING and entry.child.is_ready():
                restarts.became_ready()

    def _start(self, entry: _Supervised, now: float) -> None:
        entry.restarts.started(now)
        try:
            entry.child = entry.spawn()
        except Exception as error:  # a start that fails is one more exit before ready
            self._say(f"{entry.name} failed to start: {error}")
            entry.child = None
            self._exited(entry, None, now)
            return
        self._say(f"{entry.name} started (pid {entry.child.pid})")

    def _exited(self, entry: _Supervised, status: int | None, now: float) -> None:
        restarts = entry.restarts
        if restarts.phase is Phase.STARTING and entry.child is not None and entry.child.is_ready():
            restarts.became_ready()  # it was: the ready line was still in the pipe
        was_ready = restarts.phase is Phase.READY
        how = describe_exit(status)
        delay = restarts.exited(now)
        if delay is None:
            raise GaveUp(
                f"{entry.name} {how} before it was ready, {restarts.start_failures} times in a "
                f"row; stopping the stack (its output above says why)"
            )
        if was_ready:
            when = f"after running {now - restarts.started_at:.1f} s"
        else:
            tries = f"{restarts.start_failures} of {self._policy.max_start_failures}"
            when = f"before it was ready ({tries})"
        self._say(f"{entry.name} {how} {when}; starting it again in {delay:.1f} s")


class StopRequests:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP ask for a clean stop; a second one, for a quick one.

    Set explicitly for SIGINT too: a shell that starts us in the background hands us SIGINT
    ignored, and Ctrl-C must still stop everything.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, hurry: Callable[[], None]) -> None:
        self.stopping = threading.Event()
        self._hurry = hurry

    def install(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping.is_set():
            self._hurry()
        self.stopping.set()
