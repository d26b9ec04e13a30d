"""Taking work from the RUNS queue: only while this process has a free slot.

One loop per agent process pulls from the agents' shared durable consumer, asking for no more
messages than it has free slots. Each message is handled in its own task:

    decode                      unreadable: its run (named by the subject) fails intake_failed
    stored after give_up_at     the gateway told the user "not stored": dropped, nothing runs
    record_intake (one txn)     running (a slot, an idle thread), or queued, or a duplicate
    ack                         only once recorded: a process dying before this leaves the
                                message to be redelivered to another after ack_wait
    start                       the run's task, holding the slot taken for it

A thread that is not the user's, or busy under DOUBLE_TEXT_POLICY=reject, records nothing: the
run's agent_started and agent_failed are stored, then the message is acknowledged. A message that
fails to be recorded is redelivered with a growing delay; on its last delivery it ends its run
with ``intake_failed`` instead, so an accepted message never ends in silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from services.agent.closing import Closer
from services.agent.ledger import Intaken, Recorded, RunLedger
from services.agent.models import RunStatus
from services.agent.repository import StoredRun
from services.agent.tasks import RunTasks
from shared import runqueue, subjects
from shared.errors import ErrorCode
from shared.wire.intake import RunIntake, decode_intake

__all__ = ["IntakeConsumer", "WaitingQueue"]

log = logging.getLogger(__name__)

_MAX_BATCH = 32  # messages asked for at once, at most
_FETCH_WAIT_S = 2.0  # a pull waits this long for work before asking again
_REFUSALS = {
    Intaken.THREAD_NOT_FOUND: (ErrorCode.THREAD_NOT_FOUND, "no such thread"),
    Intaken.THREAD_BUSY: (
        ErrorCode.THREAD_BUSY,
        "this thread already has a run going; wait for it to end",
    ),
}
_UNTAKEN = "agentwire could not take this message in, after every retry"
_FAILED = RunStatus.FAILED


class IntakeConsumer:
    def __init__(
        self,
        nc: NATS,
        *,
        ledger: RunLedger,
        tasks: RunTasks,
        closer: Closer,
        ack_wait_s: float,
        max_deliver: int,
        reject_busy: bool = False,
    ) -> None:
        self._nc = nc
        self._ledger = ledger
        self._tasks = tasks
        self._closer = closer
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._reject_busy = reject_busy
        self._loop_task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> None:
        js = self._nc.jetstream()
        config = runqueue.agents_consumer_config(
            ack_wait_s=self._ack_wait_s, max_deliver=self._max_deliver
        )
        await js.add_consumer(subjects.RUNS_STREAM, config)  # idempotent for the same config
        self._sub = await js.pull_subscribe_bind(
            durable=subjects.AGENTS_CONSUMER, stream=subjects.RUNS_STREAM
        )
        self._loop_task = asyncio.create_task(self._pull(), name="intake")

    async def stop(self) -> None:
        """Take no more work; let the messages already taken be recorded (or handed back)."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._handling:
            await asyncio.wait(set(self._handling))
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    async def _pull(self) -> None:
        slots = self._tasks.slots
        while not self._stopping:
            free = await slots.wait_free()
            try:
                msgs = await self._sub.fetch(min(free, _MAX_BATCH), timeout=_FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            except (nats.errors.Error, ConnectionError) as exc:
                log.warning("could not pull work (%r); trying again", exc)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                task = asyncio.create_task(self._take(msg, slots.take()), name="intake-take")
                self._handling.add(task)
                task.add_done_callback(self._handling.discard)

    async def _take(self, msg: Msg, slot: bool) -> None:
        started = False
        try:
            started = await self._handle(msg, slot)
        except Exception:
            log.exception("could not take in %s", msg.subject)
        finally:
            if slot and not started:
                self._tasks.slots.give()

    async def _handle(self, msg: Msg, slot: bool) -> bool:
        """Record, acknowledge, start; True if the run started here (and keeps the slot)."""
        try:
            intake = _read(msg)
        except (msgspec.DecodeError, ValueError) as exc:
            log.error("unreadable message on %s: %s", msg.subject, exc)
            await self._fail_unreadable(msg)
            return False
        if _stored_at(msg) > intake.give_up_at > 0:
            log.warning("run %s: stored after the gateway gave up on it; dropped", intake.run_id)
            await msg.ack()
            return False
        try:
            recorded = await self._ledger.record_intake(
                intake, start=slot and not self._tasks.stopping, reject_busy=self._reject_busy
            )
        except Exception:
            await self._retry_or_fail(msg, intake)
            return False
        if recorded.outcome in _REFUSALS:
            code, message = _REFUSALS[recorded.outcome]
            await self._closer.refuse(_unrecorded(intake), code, message)
        await _ack(msg)
        return self._begin(recorded)

    def _begin(self, recorded: Recorded) -> bool:
        if recorded.outcome is not Intaken.STARTED or recorded.run is None:
            return False
        self._tasks.start(recorded.run, recorded.history)
        return True

    async def _retry_or_fail(self, msg: Msg, intake: RunIntake) -> None:
        delivered = msg.metadata.num_delivered or 1
        if delivered < self._max_deliver:
            log.exception("run %s: could not record it (try %d); later", intake.run_id, delivered)
            await msg.nak(delay=min(2.0**delivered, 30.0))
            return
        log.exception("run %s: could not record it after %d tries", intake.run_id, delivered)
        await self._closer.refuse(_unrecorded(intake), ErrorCode.INTAKE_FAILED, _UNTAKEN)
        await _ack(msg)

    async def _fail_unreadable(self, msg: Msg) -> None:
        parts = msg.subject.split(".")  # agent.intake.<user_id>.<run_id>
        user_id, run_id = parts[-2], parts[-1]
        run = StoredRun(
            id=run_id, thread_id=run_id, user_id=user_id, status=_FAILED, content="", created_at=0
        )
        await self._closer.refuse(run, ErrorCode.INTAKE_FAILED, _UNTAKEN)
        await _ack(msg)


def _read(msg: Msg) -> RunIntake:
    intake = decode_intake(msg.data)
    if msg.subject != subjects.run_intake(intake.user_id, intake.run_id):
        raise ValueError("the message's user or run is not its subject's")
    subjects.check_token(intake.thread_id, "thread id")
    if intake.client_msg_id is not None:
        subjects.check_token(intake.client_msg_id, "client_msg_id")
    return intake


def _stored_at(msg: Msg) -> float:
    """When the stream stored the message (the time in its acknowledgement subject)."""
    stamp = msg.metadata.timestamp
    return stamp.timestamp() if stamp is not None else time.time()


async def _ack(msg: Msg) -> None:
    try:
        await msg.ack()
    except (nats.errors.Error, ConnectionError) as exc:  # redelivered later: a duplicate then
        log.warning("could not acknowledge %s: %r", msg.subject, exc)


def _unrecorded(intake: RunIntake) -> StoredRun:
    return StoredRun(
        id=intake.run_id,
        thread_id=intake.thread_id,
        user_id=intake.user_id,
        status=_FAILED,
        content=intake.content,
        created_at=0,
    )


class WaitingQueue:
    """Looks a run's message up in the queue, by its subject (which names the user)."""

    def __init__(self, nc: NATS) -> None:
        self._js = nc.jetstream()

    async def waiting(self, user_id: str, run_id: str) -> RunIntake | None:
        subject = subjects.run_intake(user_id, run_id)
        try:
            stored = await self._js.get_last_msg(subjects.RUNS_STREAM, subject, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        if stored.data is None:
            return None
        try:
            return decode_intake(stored.data)
        except msgspec.DecodeError:
            return None
