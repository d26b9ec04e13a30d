"""``./dev up``'s supervisor without processes: when a process is started again, what it says,
and when it gives up."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field

import pytest

from devstack.supervisor import (
    GaveUp,
    InvalidTransition,
    Phase,
    RestartPolicy,
    Restarts,
    StopRequests,
    Supervisor,
    describe_exit,
)

POLICY = RestartPolicy(first_delay_s=0.5, max_delay_s=10, stable_after_s=10, max_start_failures=5)


def crash_after_ready(restarts: Restarts, at: float, up_s: float) -> float | None:
    restarts.started(at)
    restarts.became_ready()
    return restarts.exited(at + up_s)


def test_a_crashing_process_waits_longer_each_time_up_to_the_cap() -> None:
    restarts, now, delays = Restarts(POLICY), 0.0, []
    for _ in range(8):
        delay = crash_after_ready(restarts, now, up_s=1)
        assert delay is not None
        delays.append(delay)
        now += 1 + delay
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10]


def test_a_process_that_stayed_up_a_while_is_started_again_at_once() -> None:
    restarts = Restarts(POLICY)
    for at in (0.0, 2.0, 5.0):
        crash_after_ready(restarts, at, up_s=1)
    assert crash_after_ready(restarts, 20.0, up_s=30) == 0.5


def test_it_is_started_again_only_once_its_delay_is_over() -> None:
    restarts = Restarts(POLICY)
    crash_after_ready(restarts, 0, up_s=1)
    assert restarts.phase is Phase.DOWN
    assert not restarts.due(1.4) and restarts.due(1.5)


def test_it_gives_up_on_a_process_that_dies_before_ready_five_times_in_a_row() -> None:
    restarts = Restarts(POLICY)
    for n in range(4):
        restarts.started(n)
        assert restarts.exited(n + 0.1) is not None
    restarts.started(10)
    assert restarts.exited(10.1) is None
    assert restarts.phase is Phase.GAVE_UP and restarts.start_failures == 5


def test_being_ready_once_starts_the_count_of_failed_starts_again() -> None:
    restarts = Restarts(POLICY)
    for n in range(4):
        restarts.started(n)
        restarts.exited(n + 0.1)
    crash_after_ready(restarts, 10, up_s=1)
    for n in range(4):
        restarts.started(20 + n)
        assert restarts.exited(20 + n + 0.1) is not None


@pytest.mark.parametrize("move", ["became_ready", "exited"])
def test_a_process_that_is_down_cannot_become_ready_or_exit(move: str) -> None:
    restarts = Restarts(POLICY)
    with pytest.raises(InvalidTransition, match="from DOWN"):
        getattr(restarts, move)(*([1.0] if move == "exited" else []))


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (1, "exited with status 1"),
        (0, "exited with status 0"),
        (-9, "was killed by SIGKILL"),
        (-15, "was killed by SIGTERM"),
        (None, "failed to start"),
    ],
)
def test_an_exit_is_told_in_words(status: int | None, words: str) -> None:
    assert describe_exit(status) == words


@dataclass
class FakeChild:
    pid: int
    status: int | None = None
    ready: bool = False
    stopped: bool = False

    def poll(self) -> int | None:
        return self.status

    def is_ready(self) -> bool:
        return self.ready

    def stop(self) -> None:
        self.stopped = True


@dataclass
class Harness:
    now: float = 0.0
    said: list[str] = field(default_factory=list)
    children: list[FakeChild] = field(default_factory=list)
    fail_to_start: bool = False

    def spawn(self) -> FakeChild:
        if self.fail_to_start:
            raise RuntimeError("nats-server exited with 1")
        self.children.append(FakeChild(pid=100 + len(self.children)))
        return self.children[-1]

    def supervisor(self) -> Supervisor:
        supervisor = Supervisor(say=self.said.append, policy=POLICY, clock=lambda: self.now)
        supervisor.add("agent", self.spawn)
        return supervisor


def test_the_supervisor_starts_a_killed_process_again_after_its_delay_and_says_so() -> None:
    h = Harness()
    supervisor = h.supervisor()
    supervisor.tick()
    h.children[0].ready = True
    supervisor.tick()
    assert supervisor.all_ready()

    h.now, h.children[0].status = 12.0, -signal.SIGKILL
    supervisor.tick()
    assert h.children[0].stopped  # reaped
    h.now = 12.4
    supervisor.tick()
    assert len(h.children) == 1  # still waiting
    h.now = 12.5
    supervisor.tick()
    assert [child.pid for child in h.children] == [100, 101]
    assert h.said == [
        "agent started (pid 100)",
        "agent was killed by SIGKILL after running 12.0 s; starting it again in 0.5 s",
        "agent started (pid 101)",
    ]


def test_a_process_that_was_ready_before_it_died_between_two_ticks_counts_as_ready() -> None:
    h = Harness()
    supervisor = h.supervisor()
    supervisor.tick()
    h.now, h.children[0].ready, h.children[0].status = 3.0, True, 1
    supervisor.tick()
    assert h.said[-1] == (
        "agent exited with status 1 after running 3.0 s; starting it again in 0.5 s"
    )


def test_the_supervisor_gives_up_naming_the_process_and_how_it_died() -> None:
    h = Harness()
    supervisor = h.supervisor()
    with pytest.raises(GaveUp) as gave_up:
        for _ in range(100):
            supervisor.tick()
            if h.children and h.children[-1].status is None:
                h.children[-1].status = 2
            h.now += 1
    assert str(gave_up.value).startswith(
        "agent exited with status 2 before it was ready, 5 times in a row; stopping the stack"
    )
    assert len(h.children) == 5
    fourth = "agent exited with status 2 before it was ready (4 of 5); starting it again in 4.0 s"
    assert fourth in h.said


def test_a_start_that_raises_counts_as_a_failed_start() -> None:
    h = Harness(fail_to_start=True)
    supervisor = h.supervisor()
    supervisor.tick()
    assert h.said == [
        "agent failed to start: nats-server exited with 1",
        "agent failed to start before it was ready (1 of 5); starting it again in 0.5 s",
    ]


def test_an_adopted_process_is_supervised_like_the_others() -> None:
    h = Harness()
    supervisor = Supervisor(say=h.said.append, policy=POLICY, clock=lambda: h.now)
    running = FakeChild(pid=7, ready=True)
    supervisor.add("nats-server", h.spawn, running=running)
    supervisor.tick()
    assert supervisor.all_ready()
    running.status = -signal.SIGKILL
    supervisor.tick()
    h.now = 1
    supervisor.tick()
    assert h.said == [
        "nats-server started (pid 7)",
        "nats-server was killed by SIGKILL after running 0.0 s; starting it again in 0.5 s",
        "nats-server started (pid 100)",
    ]


def test_the_first_stop_signal_asks_for_a_clean_stop_and_the_second_for_a_quick_one() -> None:
    hurried: list[bool] = []
    requests = StopRequests(hurry=lambda: hurried.append(True))
    requests._on_signal(signal.SIGINT, None)
    assert requests.stopping.is_set() and not hurried
    requests._on_signal(signal.SIGINT, None)
    assert hurried == [True]
