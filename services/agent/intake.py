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
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from services.agent import observe
from services.agent.closing import Closer
from services.agent.ledger import Intaken, Recorded, RunLedger
from services.agent.models import RunStatus
from services.agent.repository import StoredRun
from services.agent.tasks import RunTasks
from shared import runqueue, subjects
from shared.errors import ErrorCode, InvalidId
from shared.wire.intake import RunIntake, decode_intake

__all__ = ["IntakeConsumer", "Waiting", "WaitingQueue"]

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
        queue: WaitingQueue,
        ack_wait_s: float,
        max_deliver: int,
        reject_busy: bool = False,
    ) -> None:
        self._nc = nc
        self._ledger = ledger
        self._tasks = tasks
        self._closer = closer
        self._queue = queue
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
            except TimeoutError:  # nats-py raises its own or, racing the server's expiry, this
                continue
            except Exception as exc:  # whatever it is, the loop must not die: it is the intake
                log.warning("could not pull work (%r); trying again", exc)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                task = asyncio.create_task(self._take(msg, slots.take()), name="intake-take")
                self._handling.add(task)
                task.add_done_callback(self._handling.discard)

    async def _take(self, msg: Msg, slot: bool) -> None:
        recorded: Recorded | None = None
        try:
            with observe.taking(msg.subject, msg.headers):  # its ids in logs, its trace
                recorded = await self._handle(msg, slot)
        except Exception:
            log.exception("could not take in %s", msg.subject)
        started = recorded is not None and recorded.outcome is Intaken.STARTED
        if slot and not started:
            self._tasks.slots.give()
        if recorded is not None and recorded.outcome is Intaken.QUEUED and recorded.run:
            # It may be its thread's next in line (its thread idle, or no slot was free here).
            try:
                await self._tasks.promote(recorded.run.thread_id)
            except Exception:  # the supervisor promotes waiting threads on its next tick
                log.exception("could not promote thread %s", recorded.run.thread_id)

    async def _handle(self, msg: Msg, slot: bool) -> Recorded | None:
        """Record, acknowledge, start (a STARTED run keeps the slot); what became of it."""
        try:
            intake = _read(msg)
        except (msgspec.DecodeError, ValueError, InvalidId) as exc:
            log.error("unreadable message on %s: %s", msg.subject, exc)
            await self._fail_unreadable(msg)
            return None
        if _stored_at(msg) > intake.give_up_at > 0:
            log.warning("run %s: stored after the gateway gave up on it; dropped", intake.run_id)
            await _ack(msg)
            return None
        seq = msg.metadata.sequence.stream
        try:
            ahead = await self._ahead_of(intake, seq)
            recorded = await self._ledger.record_intake(
                intake,
                seq=seq,
                start=slot and not self._tasks.stopping,
                reject_busy=self._reject_busy,
                ahead=ahead,
            )
        except Exception:
            await self._retry_or_fail(msg, intake)
            return None
        if recorded.outcome in _REFUSALS:
            code, message = _REFUSALS[recorded.outcome]
            await self._closer.refuse(_unrecorded(intake), code, message)
        await _ack(msg)
        if recorded.outcome is Intaken.STARTED and recorded.run is not None:
            self._tasks.start(recorded.run, recorded.history)
        return recorded

    async def _ahead_of(self, intake: RunIntake, seq: int) -> RunIntake | None:
        """The first message of the same thread still waiting, if it came before this one:
        this run must wait for it (and, if it starts the thread, may not find the thread yet)."""
        if intake.new_thread:  # its thread was made for it: nothing came before
            return None
        first = await self._queue.first_of_thread(intake.user_id, intake.thread_id)
        if first is None or first[1] >= seq:
            return None
        return first[0]

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
        """End the run the subject names (agent.intake.<user_id>.<thread_id>.<run_id>)."""
        user_id, thread_id, run_id = msg.subject.split(".")[-3:]
        try:
            run = _never_run(run_id, thread_id, user_id)
            await self._closer.refuse(run, ErrorCode.INTAKE_FAILED, _UNTAKEN)
        except InvalidId:  # not a gateway's: there is nobody to tell
            log.error("dropping %s: its ids are not ids", msg.subject)
        await _ack(msg)


def _read(msg: Msg) -> RunIntake:
    intake = decode_intake(msg.data)
    if msg.subject != subjects.run_intake(intake.user_id, intake.thread_id, intake.run_id):
        raise ValueError("the message's user, thread or run is not its subject's")
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
    return _never_run(intake.run_id, intake.thread_id, intake.user_id)


def _never_run(run_id: str, thread_id: str, user_id: str) -> StoredRun:
    """A run that ends without ever being recorded, for :meth:`Closer.refuse`."""
    return StoredRun(
        id=run_id, thread_id=thread_id, user_id=user_id, status=_FAILED, content="", created_at=0
    )


class WaitingQueue:
    """Messages still in the RUNS queue, looked up by subject (which names user and thread).

    Direct gets with the subject filter in the request body: the filters hold wildcards, which
    may not stand in a subject that is published to."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc

    async def waiting(self, user_id: str, run_id: str) -> tuple[RunIntake, int] | None:
        """A run's message and its sequence, if no agent has taken it in yet."""
        return await self._get({"last_by_subj": subjects.run_intake_of_run(user_id, run_id)})

    async def first_of_thread(self, user_id: str, thread_id: str) -> tuple[RunIntake, int] | None:
        """The oldest message of the thread still in the queue, and its sequence."""
        subject = subjects.run_intake_of_thread(user_id, thread_id)
        return await self._get({"seq": 1, "next_by_subj": subject})

    async def of_thread(self, user_id: str, thread_id: str) -> list[Waiting]:
        """The thread's messages no agent has taken in yet, oldest first (at most
        ``_SCAN_LIMIT``)."""
        return await self._scan(subjects.run_intake_of_thread(user_id, thread_id))

    async def of_user(self, user_id: str) -> list[Waiting]:
        """The user's messages no agent has taken in yet, oldest first (at most
        ``_SCAN_LIMIT``)."""
        return await self._scan(subjects.run_intake_of_user(user_id))

    async def _scan(self, subject: str) -> list[Waiting]:
        found: list[Waiting] = []
        seq = 1
        while len(found) < _SCAN_LIMIT:
            got = await self._get_with_time({"seq": seq, "next_by_subj": subject})
            if got is None:
                break
            found.append(got)
            seq = got.seq + 1
        return found

    async def earlier_waiting(self, user_id: str, thread_id: str, seq: int) -> bool:
        """Some message of the thread stored before ``seq`` is still in the queue."""
        first = await self.first_of_thread(user_id, thread_id)
        return first is not None and first[1] < seq

    async def _get(self, query: dict[str, object]) -> tuple[RunIntake, int] | None:
        got = await self._get_with_time(query)
        return None if got is None else (got.intake, got.seq)

    async def _get_with_time(self, query: dict[str, object]) -> Waiting | None:
        reply = await self._nc.request(
            _DIRECT_GET, json.dumps(query).encode(), timeout=_LOOKUP_TIMEOUT_S
        )
        headers = reply.headers or {}
        if not reply.data:  # a status: 404 is "no such message", anything else a failure
            if headers.get("Status") == "404":
                return None
            raise nats.js.errors.APIError.from_msg(reply)
        seq = int(headers.get("Nats-Sequence", 0))
        try:
            intake = decode_intake(reply.data)
        except msgspec.DecodeError:
            return Waiting(None, seq, 0.0)
        return Waiting(intake, seq, _stamp(headers.get("Nats-Time-Stamp", "")))


@dataclass(frozen=True, slots=True)
class Waiting:
    """A message still in the queue: its run (None if unreadable), sequence and time stored."""

    intake: RunIntake | None
    seq: int
    stored_at: float


def _stamp(value: str) -> float:
    """Nats-Time-Stamp (RFC 3339 with nanoseconds) as Unix seconds; 0 if unreadable."""
    try:
        whole, _, rest = value.rstrip("Z").partition(".")
        fraction = float("0." + rest) if rest else 0.0
        return datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp() + fraction
    except ValueError:
        return 0.0


_DIRECT_GET = f"$JS.API.DIRECT.GET.{subjects.RUNS_STREAM}"
_LOOKUP_TIMEOUT_S = 2.0
_SCAN_LIMIT = 20  # waiting messages a list shows at most
