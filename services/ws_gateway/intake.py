"""The gateway's durable intake: a chat message is stored for the agents before it is accepted.

``run_accepted`` goes out only once the RUNS stream has acknowledged the message, so an accepted
run is stored and will end with exactly one terminal event, whatever happens to this gateway or
to the agents meanwhile. The work waits in the queue, not the user: storing takes one JetStream
round trip, however busy the agents are.

    acknowledged (or a duplicate of a stored one)  -> RunStarted{run_id, thread_id, state, ahead}
    JetStream refused it (full, no stream)          -> RunRejected intake_unavailable: not stored
    no acknowledgement by the deadline              -> RunRejected intake_unavailable: not stored

A publish whose acknowledgement is late is retried under the same ``Nats-Msg-Id`` (the run id),
so a copy stored meanwhile is stored once. A copy stored *after* the deadline (the user was told
"not stored") carries ``give_up_at`` and the agents drop it unrun.

A message naming an agent (``agent``) is checked against the agents' own list (asked of them at
most every ``_NAMES_EVERY_S``): a name none of them has is ``unknown_agent`` and nothing is
stored. While no agent answers, the name cannot be checked: the message is stored, and an agent
that does not know the name ends the run with ``agent_failed`` ``unknown_agent``.

``ahead`` counts the accepted messages no agent has taken yet, as of the last look at the agents'
consumer (at most ``_LOOK_EVERY_S`` old, one request per gateway however many messages arrive):
``state`` is ``starting`` when nothing waits ahead and an agent is waiting for work, ``queued``
otherwise.
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
from nats.js.api import ConsumerInfo

from services.ws_gateway.metrics import GATEWAY
from shared import bus, subjects, tracing
from shared.bus import store
from shared.errors import ErrorCode, InvalidId
from shared.logging import bound
from shared.wire import runs
from shared.wire.intake import RunIntake, encode_intake, mint_ids
from shared.wire.runs import RunRejected, RunRequest, RunStarted, SubmitReply

__all__ = ["NOT_STORED_MESSAGE", "Ids", "Intake"]

log = logging.getLogger(__name__)

NOT_STORED_MESSAGE = "your message could not be stored, so it will not run; send it again shortly"
EMPTY_MESSAGE = "the message is empty"
Ids = tuple[str, str, bool]  # run_id, thread_id, new_thread
_LOOK_EVERY_S = 0.25
_LOOK_WAIT_S = 0.05  # how long an answer waits for a fresh view (a local round trip: ~1 ms)
_ACK_WAIT_S = 1.0  # one attempt's wait for the stream's acknowledgement
_NAMES_EVERY_S = 5.0  # how stale the agents' names may be
_NAMES_WAIT_S = 1.0


class Intake:
    def __init__(self, nc: NATS, *, timeout_s: float) -> None:
        self._nc = nc
        self._timeout_s = timeout_s
        self._queue = _QueueView(nc.jetstream())
        self._agents = _AgentNames(nc)

    async def submit(self, request: RunRequest, ids: Ids | None = None) -> SubmitReply:
        """Store ``request`` as a run for the agents; say which run, or that nothing was stored.

        ``ids`` (``run_id, thread_id, new_thread``) are a client's own, when its protocol has it
        pick them (AG-UI); without them they are minted (:func:`~shared.wire.intake.mint_ids`).
        The message's trace starts here (when tracing is on): its ``traceparent`` goes with the
        stored message, and ``run_accepted`` names its trace id."""
        started = time.monotonic()
        reply = await self._submit(request, ids)
        outcome = "accepted" if isinstance(reply, RunStarted) else "refused"
        if isinstance(reply, RunRejected) and reply.code == ErrorCode.INTAKE_UNAVAILABLE:
            outcome = "not_stored"
        GATEWAY.messages.inc(outcome)
        GATEWAY.intake_seconds.observe(time.monotonic() - started)
        return reply

    async def _submit(self, request: RunRequest, ids: Ids | None) -> SubmitReply:
        if not request.content.strip():
            return RunRejected(code=ErrorCode.INVALID_REQUEST, message=EMPTY_MESSAGE)
        try:  # the session's frame parser checked them already; this is the last line
            _check_ids(request)
        except InvalidId as exc:
            return RunRejected(code=exc.code, message=exc.message)
        if request.agent is not None and (refusal := await self._agents.refuse(request.agent)):
            return refusal
        run_id, thread_id, new_thread = ids or mint_ids(
            request.user_id, request.client_msg_id, request.thread_id
        )
        if ids is not None:
            try:
                subjects.check_token(run_id, "run_id")
                subjects.check_token(thread_id, "thread_id")
            except InvalidId as exc:
                return RunRejected(code=exc.code, message=exc.message)
        intake = RunIntake(
            run_id=run_id,
            user_id=request.user_id,
            thread_id=thread_id,
            new_thread=new_thread,
            content=request.content,
            client_msg_id=request.client_msg_id,
            agent=request.agent,
            give_up_at=time.time() + self._timeout_s,
        )
        attributes = _span_attributes(intake)
        with (
            bound(run_id=run_id, user_id=request.user_id, thread_id=thread_id),
            tracing.span(_SEND_SPAN, kind="producer", attributes=attributes) as span,
        ):
            seq = await self._store(intake)
            if seq is None:
                tracing.fail(span, ErrorCode.INTAKE_UNAVAILABLE)
                return RunRejected(code=ErrorCode.INTAKE_UNAVAILABLE, message=NOT_STORED_MESSAGE)
            state, ahead = await self._queue.position(seq)
            trace_id = tracing.trace_id_of(span)
        return RunStarted(
            run_id=run_id, thread_id=thread_id, state=state, ahead=ahead, trace_id=trace_id
        )

    async def _store(self, intake: RunIntake) -> int | None:
        """The stream sequence the message is stored at; None if it was not stored."""
        subject = subjects.run_intake(intake.user_id, intake.thread_id, intake.run_id)
        payload = encode_intake(intake)
        headers = tracing.inject({"Nats-Msg-Id": intake.run_id})  # + traceparent when tracing
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        while (left := deadline - loop.time()) > 0:
            try:
                return await store(self._nc, subject, payload, headers, min(left, _ACK_WAIT_S))
            except nats.js.errors.ServiceUnavailableError as exc:  # electing a leader: passes
                log.warning("the RUNS stream is unavailable for run %s (%r)", intake.run_id, exc)
            except nats.js.errors.APIError as exc:  # the stream answered: it will not store it
                log.error("the RUNS stream refused a message of user %s: %s", intake.user_id, exc)
                return None
            except (nats.errors.Error, TimeoutError, ConnectionError) as exc:
                log.warning("no acknowledgement for run %s yet (%r)", intake.run_id, exc)
            await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))
        return None


_SEND_SPAN = f"send {subjects.RUNS_STREAM}"  # messaging conventions: "{operation} {destination}"


def _span_attributes(intake: RunIntake) -> dict[str, str]:
    return {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.destination.name": subjects.RUNS_STREAM,
        "messaging.message.id": intake.run_id,
        "gen_ai.conversation.id": intake.thread_id,
        "agentwire.run_id": intake.run_id,
        "enduser.id": intake.user_id,
    }


def _check_ids(request: RunRequest) -> None:
    subjects.check_token(request.user_id, "user_id")
    for value, what in (
        (request.thread_id, "thread_id"),
        (request.client_msg_id, "client_msg_id"),
        (request.agent, "agent"),
    ):
        if value is not None:
            subjects.check_token(value, what)


class _AgentNames:
    """The names the agents answer ``list_agents`` with, at most _NAMES_EVERY_S old."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._names: frozenset[str] | None = None
        self._asked_at = float("-inf")
        self._asking: asyncio.Task[None] | None = None

    async def refuse(self, name: str) -> RunRejected | None:
        """The refusal of a message naming ``name``; None: take it."""
        if time.monotonic() - self._asked_at >= _NAMES_EVERY_S:
            if self._asking is None:
                self._asked_at = time.monotonic()
                self._asking = asyncio.create_task(self._ask(), name="intake-agent-names")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._asking), _NAMES_WAIT_S)
        names = self._names
        if names is None or name in names:
            return None
        message = (
            f"there is no agent named {name!r} here; the agents are: {', '.join(sorted(names))}"
        )
        return RunRejected(code=ErrorCode.UNKNOWN_AGENT, message=message)

    async def _ask(self) -> None:
        try:
            payload = runs.encode(runs.ListAgentsRequest(user_id="-"))
            msg = await bus.request(
                self._nc,
                subjects.agent_list(),
                payload,
                timeout_s=_NAMES_WAIT_S,
                no_responders_grace_s=0.0,
            )
            reply = runs.decode_agent_list_reply(msg.data)
            if isinstance(reply, runs.AgentList):
                self._names = frozenset(agent.name for agent in reply.agents)
        except (nats.errors.Error, TimeoutError, msgspec.DecodeError) as exc:
            log.debug("could not ask the agents their names: %r", exc)
        finally:
            self._asking = None


class _QueueView:
    """How far the agents have got through the queue, looked up at most every _LOOK_EVERY_S."""

    def __init__(self, js: object) -> None:
        self._js = js
        self._info: ConsumerInfo | None = None
        self._looked_at = float("-inf")
        self._looking: asyncio.Task[None] | None = None

    async def position(self, seq: int) -> tuple[str, int | None]:
        """Where ``seq`` stands: the view is refreshed when older than _LOOK_EVERY_S, and this
        waits for the refresh (briefly) rather than answer from a view taken before a quiet
        spell."""
        looking = self._refresh()
        if looking is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(looking), _LOOK_WAIT_S)
        info = self._info
        if info is None or info.delivered is None:
            return "queued", None
        taken = info.delivered.stream_seq or 0
        ahead = max(0, seq - 1 - taken)
        waiting = bool(info.num_waiting)
        return ("starting" if ahead == 0 and waiting else "queued"), ahead

    def _refresh(self) -> asyncio.Task[None] | None:
        """The look under way or just started, if the view is stale; None if it is fresh."""
        now = time.monotonic()
        if now - self._looked_at < _LOOK_EVERY_S:
            return None
        if self._looking is None:
            self._looked_at = now
            self._looking = asyncio.create_task(self._look(), name="intake-queue-view")
        return self._looking

    async def _look(self) -> None:
        try:
            self._info = await self._js.consumer_info(  # type: ignore[attr-defined]
                subjects.RUNS_STREAM, subjects.AGENTS_CONSUMER, timeout=1.0
            )
        except (nats.errors.Error, TimeoutError) as exc:
            log.debug("could not look at the agents' queue: %r", exc)
        finally:
            self._looking = None
