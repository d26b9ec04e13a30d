"""The agent's NATS edge: requests in (queue group "agents"), replies out, cancel broadcasts.

    agent.runs.cancel        CancelRequest       -> CancelAccepted | RunRejected
    agent.threads.list       ListThreadsRequest  -> ThreadList | RunRejected
    agent.runs.list          ListRunsRequest     -> RunList | RunRejected
    agent.control.cancel.*   (empty)             every agent process; the run's owner stops it

Decode -> call -> encode, nothing else. Every request gets an answer, even a malformed one or one
that crashes the service, so a gateway never waits out its timeout for nothing; and an answer
too big for one NATS message (``nc.max_payload``) is replaced by a ``reply_too_large`` refusal
rather than dropped.

Requests are answered concurrently: nats-py runs a subscription's callback to completion before
it hands over the next message, so the callback only takes a slot and starts a task. At most
``MAX_ANSWERING`` answers are under way per process (the slots are shared by the subjects); the
requests beyond that wait in their subscription's queue, not as tasks. Stopping drains each
subscription (the requests already delivered are still answered) and then waits for the
answers under way (``ANSWER_GRACE_S``, then they are cancelled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.bus import until_subscribed
from shared.errors import ErrorCode
from shared.wire.runs import (
    AgentList,
    CancelReply,
    CancelRequest,
    Decided,
    DecideRequest,
    ListAgentsRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunList,
    RunRejected,
    ThreadList,
    decode_cancel_request,
    decode_decide_request,
    decode_list_agents_request,
    decode_list_runs_request,
    decode_list_threads_request,
    encode,
)

__all__ = [
    "ANSWER_GRACE_S",
    "MAX_ANSWERING",
    "AgentRequests",
    "Responder",
    "answer",
    "broadcaster",
    "fitted",
    "subscribe_control",
    "subscribe_requests",
]

log = logging.getLogger(__name__)

MAX_ANSWERING = 32  # answers under way at once, per process: each may hold a database connection
ANSWER_GRACE_S = 10.0  # how long stopping waits for them

Decode = Callable[[bytes], Any]
Handle = Callable[[Any], Awaitable[Any]]


class AgentRequests(Protocol):
    async def cancel(self, request: CancelRequest) -> CancelReply: ...
    async def list_threads(self, request: ListThreadsRequest) -> ThreadList | RunRejected: ...
    async def list_runs(self, request: ListRunsRequest) -> RunList | RunRejected: ...
    async def list_agents(self, request: ListAgentsRequest) -> AgentList: ...
    async def decide(self, request: DecideRequest) -> Decided | RunRejected: ...
    def stop_local(self, run_id: str) -> None: ...


async def subscribe_requests(
    nc: NATS, service: AgentRequests, *, max_answering: int = MAX_ANSWERING
) -> list[Responder]:
    """Take requests, sharing them with every other agent process in the queue group."""
    routes: list[tuple[str, Decode, Handle]] = [
        (subjects.run_cancel(), decode_cancel_request, service.cancel),
        (subjects.thread_list(), decode_list_threads_request, service.list_threads),
        (subjects.run_list(), decode_list_runs_request, service.list_runs),
        (subjects.agent_list(), decode_list_agents_request, service.list_agents),
        (subjects.approval_decide(), decode_decide_request, service.decide),
    ]
    slots = asyncio.Semaphore(max_answering)
    responders = []
    for subject, decode, handle in routes:
        responder = Responder(nc, decode, handle, slots)
        await responder.subscribe(subject)
        responders.append(responder)
    await until_subscribed(nc)  # "ready" must mean requests already reach us
    return responders


async def subscribe_control(nc: NATS, service: AgentRequests) -> Subscription:
    """Hear every cancel broadcast (no queue group: the run's owner may be any process)."""

    async def on_cancel(msg: Msg) -> None:
        service.stop_local(msg.subject.rsplit(".", 1)[-1])

    return await nc.subscribe(subjects.run_control_cancel_wildcard(), cb=on_cancel)


def approval_broadcaster(nc: NATS) -> Callable[[str, str], Awaitable[None]]:
    """Tell every agent process that one of ``run_id``'s approvals was decided."""

    async def broadcast_decided(run_id: str, approval_id: str) -> None:
        await nc.publish(subjects.approval_decided(run_id), approval_id.encode())

    return broadcast_decided


def broadcaster(nc: NATS) -> Callable[[str], Awaitable[None]]:
    async def broadcast_cancel(run_id: str) -> None:
        await nc.publish(subjects.run_control_cancel(run_id), b"")

    return broadcast_cancel


class Responder:
    """One subject's requests (queue group "agents"), each answered in a task of its own."""

    def __init__(
        self,
        nc: NATS,
        decode: Decode,
        handle: Handle,
        slots: asyncio.Semaphore,
        grace_s: float = ANSWER_GRACE_S,
    ) -> None:
        self._nc = nc
        self._decode = decode
        self._handle = handle
        self._slots = slots  # shared by every Responder of the process
        self._grace_s = grace_s
        self._answering: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    async def subscribe(self, subject: str) -> None:
        self._subscription = await self._nc.subscribe(
            subject, queue=subjects.AGENT_QUEUE, cb=self._take
        )

    async def drain(self) -> None:
        """Take no more requests, answer the ones delivered, wait for the answers under way."""
        try:
            if self._subscription is not None:
                await self._subscription.drain()
        finally:
            await self._finish()

    async def _take(self, msg: Msg) -> None:
        # Waiting for a slot holds up this subscription's next message, which is the point.
        await self._slots.acquire()
        task = asyncio.create_task(self._answer(msg), name=f"answer-{msg.subject}")
        self._answering.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._answering.discard(task)
        self._slots.release()

    async def _answer(self, msg: Msg) -> None:
        reply = encode(await answer(self._decode, self._handle, msg.data))
        if not msg.reply:
            return
        try:
            # Not msg.respond: it would echo the request's headers, which count against the limit.
            await self._nc.publish(msg.reply, fitted(reply, self._nc.max_payload, msg.subject))
        except Exception as exc:  # NATS gone: the requester sees its timeout
            log.warning("could not answer on %s: %r", msg.subject, exc)

    async def _finish(self) -> None:
        if not self._answering:
            return
        _, late = await asyncio.wait(set(self._answering), timeout=self._grace_s)
        for task in late:
            log.warning("an answer was still under way after %.1f s: cancelled", self._grace_s)
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


def fitted(reply: bytes, max_payload: int, subject: str = "") -> bytes:
    """``reply``, or a small ``reply_too_large`` refusal when it is over ``max_payload``."""
    if len(reply) <= max_payload:
        return reply
    log.warning("an answer on %s is over the limit: %d > %d", subject, len(reply), max_payload)
    message = f"the answer ({len(reply)} bytes) is over the bus's limit of {max_payload} bytes"
    return encode(RunRejected(code=ErrorCode.REPLY_TOO_LARGE, message=message))


async def answer(decode: Decode, handle: Handle, payload: bytes) -> Any:
    try:
        request = decode(payload)
    except msgspec.DecodeError as exc:
        return RunRejected(code=ErrorCode.INVALID_REQUEST, message=f"bad request: {exc}")
    try:
        return await handle(request)
    except Exception:
        log.exception("could not answer %s for user %s", type(request).__name__, request.user_id)
        return RunRejected(code=ErrorCode.AGENT_ERROR, message="the agent could not do this")
