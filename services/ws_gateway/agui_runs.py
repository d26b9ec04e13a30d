"""AG-UI requests turned into agentwire's own: submit a message, decide an approval, cancel a run,
and the stream of a run's events from the log.

    RunAgentInput, no resume[]        -> the last user message through the durable intake (the
                                         client's runId and threadId are the run's and thread's)
    RunAgentInput with resume[]       -> approve/deny (the agents' ``agent.approvals.decide``, as
                                         the WebSocket's approve/deny), then the same run goes on
    either, with ``Last-Event-ID``    -> nothing sent to the agents: the run's stream continues
                                         after that position
    cancel {runId}                    -> agentwire's ``cancel`` (``agent.runs.cancel``)

Every refusal before a stream opens is an :class:`AguiRefused` with an HTTP status and one of
agentwire's error codes (AG-UI: "input rejected before the run starts is an HTTP error status").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import nats.errors

from services.ws_gateway import sse
from services.ws_gateway.agui_log import RunLog
from services.ws_gateway.agui_projection import Cursor, Delivery, Frame, Projection
from services.ws_gateway.agui_projection import parse_interrupt_id as parse_interrupt
from services.ws_gateway.agui_wire import ResumeEntry, RunInput, encode_event, last_user_text
from services.ws_gateway.eventlog import EventLog, EventLogError
from services.ws_gateway.intake import Intake
from services.ws_gateway.node import Node
from shared import bus, subjects
from shared.errors import ErrorCode, InvalidId
from shared.wire import events as e
from shared.wire import runs

__all__ = ["AguiRefused", "AguiRuns", "Opened"]

T = TypeVar("T")
_ACTIVE = ("queued", "running")
_LOOKUP_S = 1.0  # whether a thread exists: not worth holding a message back longer
_NEWEST_RUNS = 20  # a request sent again (a retry) is for one of the thread's newest runs
_ABANDONED = "the person's application abandoned the question (AG-UI resume status cancelled)"
_STATUS: dict[str, int] = {  # an agents' refusal as an HTTP status
    ErrorCode.INTAKE_UNAVAILABLE: 503,
    ErrorCode.NO_AGENT_AVAILABLE: 503,
    ErrorCode.EVENT_LOG_UNAVAILABLE: 503,
    ErrorCode.RUN_NOT_FOUND: 404,
    ErrorCode.APPROVAL_NOT_FOUND: 404,
}


class AguiRefused(Exception):
    """A request refused before any stream: ``status``, agentwire's ``code``, a ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, str(code), message


@dataclass(slots=True)
class Opened:
    """A run's stream, ready: the frames it starts with, then :meth:`follow`."""

    first: list[Frame]
    delivery: Delivery
    run_log: RunLog


class AguiRuns:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._ready: tuple[EventLog, Intake] | None = None
        self._lock = asyncio.Lock()

    async def open(self, user_id: str, run_input: RunInput, last_event_id: str | None) -> Opened:
        """Submit or resume the input's run (unless this is a re-request) and open its stream."""
        event_log, intake = await self._parts()
        cursor = None if last_event_id is None else Cursor.parse(last_event_id)
        if last_event_id is not None and cursor is None:
            raise AguiRefused(400, ErrorCode.INVALID_REQUEST, "Last-Event-ID is not one of ours")
        _check(run_input.thread_id, "threadId")
        _check(run_input.run_id, "runId")
        entry = _our_entry(run_input.resume or [])
        if entry is not None:
            return await self._resume(user_id, run_input, entry, cursor)
        if cursor is not None:  # a re-request: the run is stored; continue its stream
            projection = Projection(run_input.thread_id, run_input.run_id, run_input.run_id)
            run_log, history = await self._read(user_id, run_input.run_id, after=0)
            return _opened(Delivery(projection, cursor), run_log, history)
        return await self._submit(user_id, run_input, event_log, intake)

    async def cancel(self, user_id: str, run_id: str, thread_id: str | None) -> runs.CancelAccepted:
        """agentwire's cancel of ``run_id``; a run id this thread's AG-UI client minted for a
        resumed stream is not a run of ours, so then the thread's newest unfinished run."""
        _check(run_id, "runId")
        reply = await self._cancel(user_id, run_id)
        if isinstance(reply, runs.CancelAccepted):
            return reply
        if reply.code == ErrorCode.RUN_NOT_FOUND and thread_id is not None:
            _check(thread_id, "threadId")
            listed = await self._ask(
                subjects.run_list(),
                runs.ListRunsRequest(user_id=user_id, thread_id=thread_id, limit=1),
                runs.decode_run_list_reply,
            )
            if (
                isinstance(listed, runs.RunList)
                and listed.runs
                and listed.runs[0].status in _ACTIVE
            ):
                reply = await self._cancel(user_id, listed.runs[0].run_id)
                if isinstance(reply, runs.CancelAccepted):
                    return reply
        raise AguiRefused(_status(reply.code), reply.code, reply.message)

    async def follow(self, opened: Opened, keepalive_s: float) -> AsyncIterator[bytes]:
        """The SSE bytes of an opened stream, until its AG-UI run ends (or the client leaves:
        then this is cancelled, and the agentwire run goes on).

        The doorbell is subscribed here, not when the stream is opened: a response the client
        left before it began holds nothing. Nothing is missed meanwhile, because reads go on
        from the position the opening read reached, whenever the bell rang."""
        loop = asyncio.get_running_loop()
        try:
            await opened.run_log.open()
            for frame in opened.first:
                yield _sse(frame)
            written = loop.time()
            while not opened.delivery.finished:
                for seq, event in await opened.run_log.read():
                    for frame in opened.delivery.feed(seq, event):
                        yield _sse(frame)
                        written = loop.time()
                if opened.delivery.finished:
                    return
                if loop.time() - written >= keepalive_s:
                    yield sse.comment("keep-alive")
                    written = loop.time()
                await opened.run_log.wait(max(0.0, written + keepalive_s - loop.time()))
        finally:
            await opened.run_log.close()

    # Starting and resuming

    async def _submit(
        self, user_id: str, run_input: RunInput, event_log: EventLog, intake: Intake
    ) -> Opened:
        content = last_user_text(run_input)
        if not content or not content.strip():
            raise AguiRefused(422, ErrorCode.INVALID_REQUEST, "the last message is not the user's")
        before = await self._guarded(event_log.newest(user_id))  # every event of the run is after
        known = await self._thread_runs(user_id, run_input.thread_id)
        projection = Projection(run_input.thread_id, run_input.run_id, run_input.run_id)
        if known is not None and run_input.run_id in known:  # sent again: the run, from its start
            run_log, history = await self._read(user_id, run_input.run_id, after=0)
            opened = _opened(Delivery(projection, Cursor(0)), run_log, history)
            opened.first.insert(0, projection.started(0))
            return opened
        request = runs.RunRequest(
            user_id=user_id,
            content=content,
            thread_id=run_input.thread_id,
            agent=_agent(run_input.forwarded_props),
        )
        ids = (run_input.run_id, run_input.thread_id, known is None)
        reply = await intake.submit(request, ids)
        if isinstance(reply, runs.RunRejected):
            raise AguiRefused(_status(reply.code), reply.code, reply.message)
        run_log, history = await self._read(user_id, run_input.run_id, after=before)
        opened = _opened(Delivery(projection, Cursor(before)), run_log, history)
        opened.first.insert(0, projection.started(before))
        return opened

    async def _resume(
        self,
        user_id: str,
        run_input: RunInput,
        entry: tuple[str, str, ResumeEntry],
        cursor: Cursor | None,
    ) -> Opened:
        run_id, approval_id, answer = entry
        approved, reason = _decision(answer)
        decision = runs.DecideRequest(
            user_id=user_id,
            approval_id=approval_id,
            decision="approved" if approved else "denied",
            reason=reason,
        )
        decided = await self._ask(subjects.approval_decide(), decision, runs.decode_decide_reply)
        if isinstance(decided, runs.RunRejected):
            raise AguiRefused(_status(decided.code), decided.code, decided.message)
        run_log, history = await self._read(user_id, run_id, after=0)
        at = next((seq for seq, ev in history if _asks(ev, approval_id)), None)
        if at is None:
            raise AguiRefused(404, ErrorCode.APPROVAL_NOT_FOUND, "no such interrupt in this run")
        projection = Projection(run_input.thread_id, run_id, run_input.run_id)
        start = Cursor(at) if cursor is None else max(cursor, Cursor(at), key=_order)
        opened = _opened(Delivery(projection, start, resumed_at=at), run_log, history)
        if cursor is None:
            opened.first.insert(0, projection.started(at))
        return opened

    async def _read(
        self, user_id: str, run_id: str, *, after: int
    ) -> tuple[RunLog, list[tuple[int, e.AnyEvent]]]:
        """The run's reader and what the log holds of the run after ``after``, all of it."""
        event_log = (await self._parts())[0]
        run_log = RunLog(self._node.nc, event_log, user_id, run_id, after=after)
        try:
            return run_log, await run_log.read(strict=True)
        except EventLogError:
            message = "the event log is unreachable; try again"
            raise AguiRefused(503, ErrorCode.EVENT_LOG_UNAVAILABLE, message) from None

    # The agents

    async def _thread_runs(self, user_id: str, thread_id: str) -> set[str] | None:
        """The ids of the thread's newest runs, if the thread is the user's (None: a new thread
        is made for the run, else it goes on, with its history). Unanswered: None (storing the
        message matters more). A run sent again is among them: it is not sent twice, and its
        stream starts from its beginning, not from wherever the log is now."""
        request = runs.ListRunsRequest(user_id=user_id, thread_id=thread_id, limit=_NEWEST_RUNS)
        with contextlib.suppress(AguiRefused):
            decode = runs.decode_run_list_reply
            reply = await self._ask(subjects.run_list(), request, decode, timeout_s=_LOOKUP_S)
            if isinstance(reply, runs.RunList):
                return {run.run_id for run in reply.runs}
        return None

    async def _cancel(self, user_id: str, run_id: str) -> runs.CancelReply:
        request = runs.CancelRequest(user_id=user_id, run_id=run_id)
        return await self._ask(subjects.run_cancel(), request, runs.decode_cancel_reply)

    async def _ask(
        self,
        subject: str,
        message: Any,
        decode: Callable[[bytes], T],
        timeout_s: float | None = None,
    ) -> T:
        timeout_s = timeout_s or self._node.settings.submit_timeout_s
        try:
            reply = await bus.request(
                self._node.nc, subject, runs.encode(message), timeout_s=timeout_s
            )
            return decode(reply.data)
        except (nats.errors.Error, TimeoutError):
            raise AguiRefused(
                503, ErrorCode.NO_AGENT_AVAILABLE, "no agent answered; try again"
            ) from None
        except msgspec.DecodeError:
            raise AguiRefused(
                502, ErrorCode.AGENT_ERROR, "the agent's reply was unreadable"
            ) from None

    async def _guarded(self, reading: Awaitable[int]) -> int:
        """A read of the log; its failure refuses the request (nothing was stored yet)."""
        try:
            return await reading
        except (EventLogError, nats.errors.Error, OSError):
            raise AguiRefused(
                503, ErrorCode.EVENT_LOG_UNAVAILABLE, "the event log is away; try again"
            ) from None

    async def _parts(self) -> tuple[EventLog, Intake]:
        """The reader and intake of this gateway's AG-UI side, made on first use."""
        async with self._lock:
            if self._ready is None:
                timeout_s = self._node.settings.submit_timeout_s
                event_log = EventLog(self._node.nc, timeout_s=timeout_s)
                await event_log.start()
                self._ready = (event_log, Intake(self._node.nc, timeout_s=timeout_s))
            return self._ready


def _opened(delivery: Delivery, run_log: RunLog, history: list[tuple[int, e.AnyEvent]]) -> Opened:
    return Opened([f for seq, ev in history for f in delivery.feed(seq, ev)], delivery, run_log)


def _asks(event: e.AnyEvent, approval_id: str) -> bool:
    return isinstance(event, e.ApprovalRequested) and event.data.approval_id == approval_id


def _status(code: str) -> int:
    return _STATUS.get(code, 422)


def _sse(frame: Frame) -> bytes:
    return sse.event(encode_event(frame.event), frame.id)


def _order(cursor: Cursor) -> tuple[int, int]:
    return (cursor.seq, 1 << 62 if cursor.part is None else cursor.part)


def _check(value: str, what: str) -> None:
    try:
        subjects.check_token(value, what)
    except InvalidId as exc:
        raise AguiRefused(422, exc.code, exc.message) from None


def _our_entry(entries: list[ResumeEntry]) -> tuple[str, str, ResumeEntry] | None:
    """The resume entry answering one of our interrupts (others are skipped, as AG-UI says)."""
    for entry in entries:
        parsed = parse_interrupt(entry.interrupt_id)
        if parsed is not None and all(subjects.is_safe_token(part) for part in parsed):
            return (*parsed, entry)
    return None


def _decision(entry: ResumeEntry) -> tuple[bool, str | None]:
    """``(approved, reason)`` of an answer: ``{"approved": bool, "reason"?}`` (or a bare bool);
    an abandoned interrupt is a denial."""
    if entry.status == "cancelled":
        return False, _ABANDONED
    payload = entry.payload
    if isinstance(payload, bool):
        return payload, None
    if isinstance(payload, dict) and isinstance(payload.get("approved"), bool):
        reason = payload.get("reason")
        return payload["approved"], reason[:1000] if isinstance(reason, str) else None
    raise AguiRefused(400, ErrorCode.INVALID_REQUEST, 'a resume payload is {"approved": boolean}')


def _agent(forwarded: Any) -> str | None:
    """``forwardedProps.agent``: which of the deployment's agents runs the message."""
    agent = forwarded.get("agent") if isinstance(forwarded, dict) else None
    return agent if isinstance(agent, str) else None
