"""The run host's slots, and a run that will not stop: ended from outside, fenced off."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from services.agent.closing import Closer
from services.agent.control import StopReason
from services.agent.ledger import Queued
from services.agent.models import RunStatus
from services.agent.planner import InfraAnalystPlanner, Step, Think, ToolObservation
from services.agent.repository import StoredRun
from services.agent.runner import Runner
from services.agent.tasks import RunTasks, Slots
from tests.unit.agent.fakes import Ledger, Stream, Tools

RUN = "0123456789abcdef"


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_slots_are_taken_given_back_and_waited_for() -> None:
    slots = Slots(2)
    assert slots.take() and slots.take() and not slots.take()
    waiter = asyncio.create_task(slots.wait_free())
    await asyncio.sleep(0)
    assert not waiter.done()

    slots.give()

    assert await waiter == 1
    slots.give()
    slots.give()  # one too many: never more than the size
    assert slots.free == 2


class StubbornPlan:
    """Thinks once, then waits; swallows the cancel that stops it and tries to think again."""

    headline = "working"

    def __init__(self) -> None:
        self.steps = 0
        self.swallowed = asyncio.Event()
        self.finished = asyncio.Event()

    def next_step(self, observation: ToolObservation | None) -> Step:
        self.steps += 1
        return Think("first thought") if self.steps == 1 else self._stubborn()

    async def _stubborn(self) -> Step:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.swallowed.set()
            await asyncio.sleep(0.2)  # carries on as if nothing happened
        self.finished.set()
        return Think("a thought nobody may see")


@dataclass
class StubbornPlanner:
    plan: StubbornPlan

    def start(self, message: str, history: list[str]) -> StubbornPlan:
        return self.plan


class NothingQueued:
    async def next_queued(self, thread_id: str) -> Queued | None:
        return None

    async def claim(self, queued: Queued) -> None:
        raise AssertionError("nothing is queued")


class NothingWaiting:
    async def earlier_waiting(self, user_id: str, thread_id: str, seq: int) -> bool:
        return False


def host(ledger: Ledger, stream: Stream, plan: StubbornPlan, slots: Slots) -> RunTasks:
    tools = Tools()
    runner = Runner(
        events=stream, tools=tools, book=ledger, planner=StubbornPlanner(plan), agent_name="a"
    )
    closer = Closer(ledger=ledger, events=stream, tools=tools, agent_name="a")
    return RunTasks(
        runner=runner,
        closer=closer,
        ledger=NothingQueued(),
        slots=slots,
        order=NothingWaiting(),
        lease_s=60,
        stop_grace_s=0.05,
    )


async def test_a_run_that_swallows_its_cancel_is_ended_from_outside_and_fenced_off() -> None:
    ledger, stream, plan, slots = Ledger(), Stream(), StubbornPlan(), Slots(1)
    run = ledger.add(RUN)
    tasks = host(ledger, stream, plan, slots)
    assert slots.take()
    tasks.start(run)
    await until(lambda: stream.whole == ["agent_started", "agent_thinking"])

    assert tasks.stop(RUN, StopReason.CANCELLED)
    await plan.swallowed.wait()
    await until(lambda: ledger.runs[RUN].announced)
    await plan.finished.wait()
    await asyncio.sleep(0.05)

    assert stream.whole == ["agent_started", "agent_thinking", "agent_cancelled"]
    assert stream.types[-1] == "agent_cancelled"  # not even a delta of the fenced-off thought
    assert ledger.runs[RUN].status is RunStatus.CANCELLED
    assert slots.free == 1 and tasks.running == 0


async def test_a_process_without_a_free_slot_promotes_nothing() -> None:
    asked: list[str] = []

    class Queue:
        async def next_queued(self, thread_id: str) -> Queued | None:
            asked.append(thread_id)
            raise AssertionError("must not be asked without a slot")

    slots = Slots(1)
    tasks = host(Ledger(), Stream(), StubbornPlan(), slots)
    tasks._ledger = Queue()
    assert slots.take()

    assert await tasks.promote("t1") is None
    assert asked == [] and slots.free == 0


class Thread(Ledger):
    """One thread: run-2 waits behind run-1, and is next in line once run-1 is announced."""

    async def announce_and_next(
        self, run_id: str, thread_id: str, *, last_seq: int | None = None
    ) -> Queued | None:
        await self.mark_announced(run_id, last_seq=last_seq)
        queued = self.runs.get("run-2")
        if run_id == "run-2" or queued is None or queued.status is not RunStatus.QUEUED:
            return None
        return Queued("run-2", thread_id, "u1", 2)

    async def next_queued(self, thread_id: str) -> Queued | None:
        return None

    async def claim(self, queued: Queued) -> tuple[StoredRun, tuple[str, ...]] | None:
        self._set(queued.run_id, status=RunStatus.RUNNING)
        return self.runs[queued.run_id], ()


async def test_a_run_that_ends_hands_its_slot_to_the_next_run_of_its_thread_at_once() -> None:
    ledger, stream, tools, slots = Thread(), Stream(), Tools(), Slots(1)
    first = ledger.add("run-1")
    ledger.add("run-2", status=RunStatus.QUEUED)
    runner = Runner(
        events=stream, tools=tools, book=ledger, planner=InfraAnalystPlanner(), agent_name="a"
    )
    closer = Closer(ledger=ledger, events=stream, tools=tools, agent_name="a")
    tasks = RunTasks(
        runner=runner, closer=closer, ledger=ledger, slots=slots, order=NothingWaiting(), lease_s=60
    )
    assert slots.take()  # one slot, and the first run holds it

    tasks.start(first)
    await until(lambda: ledger.runs["run-2"].announced, timeout_s=2.0)  # no supervisor here

    assert stream.types.count("agent_completed") == 2
    assert slots.free == 1 and tasks.running == 0
