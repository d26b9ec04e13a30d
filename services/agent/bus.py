"""The agent's NATS edge: requests in (queue group "agents"), replies out, cancel broadcasts.

    agent.runs.cancel        CancelRequest       -> CancelAccepted | RunRejected
    agent.threads.list       ListThreadsRequest  -> ThreadList | RunRejected
    agent.runs.list          ListRunsRequest     -> RunList | RunRejected
    agent.control.cancel.*   (empty)             every agent process; the run's owner stops it

Decode -> call -> encode, nothing else. Every request gets an answer, even a malformed one or one
that crashes the service, so a gateway never waits out its timeout for nothing.
"""

from __future__ import annotations

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
    CancelReply,
    CancelRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunList,
    RunRejected,
    ThreadList,
    decode_cancel_request,
    decode_list_runs_request,
    decode_list_threads_request,
    encode,
)

__all__ = ["AgentRequests", "answer", "broadcaster", "subscribe_control", "subscribe_requests"]

log = logging.getLogger(__name__)


class AgentRequests(Protocol):
    async def cancel(self, request: CancelRequest) -> CancelReply: ...
    async def list_threads(self, request: ListThreadsRequest) -> ThreadList | RunRejected: ...
    async def list_runs(self, request: ListRunsRequest) -> RunList | RunRejected: ...
    def stop_local(self, run_id: str) -> None: ...


async def subscribe_requests(nc: NATS, service: AgentRequests) -> list[Subscription]:
    """Take requests, sharing them with every other agent process in the queue group."""
    routes: list[tuple[str, Callable[[bytes], Any], Callable[[Any], Awaitable[Any]]]] = [
        (subjects.run_cancel(), decode_cancel_request, service.cancel),
        (subjects.thread_list(), decode_list_threads_request, service.list_threads),
        (subjects.run_list(), decode_list_runs_request, service.list_runs),
    ]
    subscriptions = [await _serve(nc, *route) for route in routes]
    await until_subscribed(nc)  # "ready" must mean requests already reach us
    return subscriptions


async def subscribe_control(nc: NATS, service: AgentRequests) -> Subscription:
    """Hear every cancel broadcast (no queue group: the run's owner may be any process)."""

    async def on_cancel(msg: Msg) -> None:
        service.stop_local(msg.subject.rsplit(".", 1)[-1])

    return await nc.subscribe(subjects.run_control_cancel_wildcard(), cb=on_cancel)


def broadcaster(nc: NATS) -> Callable[[str], Awaitable[None]]:
    async def broadcast_cancel(run_id: str) -> None:
        await nc.publish(subjects.run_control_cancel(run_id), b"")

    return broadcast_cancel


async def _serve(
    nc: NATS,
    subject: str,
    decode: Callable[[bytes], Any],
    handle: Callable[[Any], Awaitable[Any]],
) -> Subscription:
    async def on_request(msg: Msg) -> None:
        reply = await answer(decode, handle, msg.data)
        if msg.reply:
            await msg.respond(encode(reply))

    return await nc.subscribe(subject, queue=subjects.AGENT_QUEUE, cb=on_request)


async def answer(
    decode: Callable[[bytes], Any], handle: Callable[[Any], Awaitable[Any]], payload: bytes
) -> Any:
    try:
        request = decode(payload)
    except msgspec.DecodeError as exc:
        return RunRejected(code=ErrorCode.INVALID_REQUEST, message=f"bad request: {exc}")
    try:
        return await handle(request)
    except Exception:
        log.exception("could not answer %s for user %s", type(request).__name__, request.user_id)
        return RunRejected(code=ErrorCode.AGENT_ERROR, message="the agent could not do this")
