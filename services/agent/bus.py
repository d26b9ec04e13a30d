"""The agent's NATS edge: run submissions in (request/reply, queue group), replies out.

Decode -> call -> encode, nothing else. Every request gets an answer, even a malformed one or one
that crashes the service, so a gateway never waits out its timeout for a run that never started.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.bus import until_subscribed
from shared.errors import ErrorCode
from shared.wire.runs import RunRejected, RunRequest, SubmitReply, decode_run_request, encode

__all__ = ["Submitter", "answer_submission", "subscribe_submissions"]

log = logging.getLogger(__name__)


class Submitter(Protocol):
    async def submit(self, request: RunRequest) -> SubmitReply: ...


async def subscribe_submissions(nc: NATS, service: Submitter) -> Subscription:
    """Take run submissions, sharing them with every other agent process in the queue group."""

    async def on_submission(msg: Msg) -> None:
        reply = await answer_submission(service, msg.data)
        if msg.reply:
            await msg.respond(encode(reply))

    subscription = await nc.subscribe(
        subjects.run_submit(), queue=subjects.AGENT_QUEUE, cb=on_submission
    )
    await until_subscribed(nc)  # "ready" must mean submissions already reach us
    return subscription


async def answer_submission(service: Submitter, payload: bytes) -> SubmitReply:
    try:
        request = decode_run_request(payload)
    except msgspec.DecodeError as exc:
        return RunRejected(code=ErrorCode.INVALID_REQUEST, message=f"bad run request: {exc}")
    try:
        return await service.submit(request)
    except Exception:
        log.exception("could not start a run for user %s", request.user_id)
        return RunRejected(code=ErrorCode.AGENT_ERROR, message="the agent could not start this run")
