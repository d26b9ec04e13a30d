"""The gateway as the agents' client: run submissions (through the durable intake), cancels and
listings (NATS requests).

Each request runs in its own task, so a socket's reader keeps reading (a ``ping`` still gets its
``pong``) while the agents think. The user id in every request is the session's, which took it
from the verified token. A submission is answered by :class:`~services.ws_gateway.intake.Intake`
once the message is stored (``run_accepted``) or known not to be (``intake_unavailable``). The
outcome of a request goes back into the session, which decides the frame:

    no responder, or no answer in time   -> error no_agent_available (nothing was started)
    an unreadable answer                 -> error agent_error
    RunRejected{code, message}           -> error frame with that code (e.g. run_not_found)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client as NATS

from services.ws_gateway.commands import Command, Request, RequestKind
from services.ws_gateway.framing import AgentReply
from services.ws_gateway.intake import Intake
from services.ws_gateway.session import NO_AGENT_MESSAGE
from services.ws_gateway.transport import Connection
from shared import bus, subjects
from shared.errors import ErrorCode
from shared.wire import runs

__all__ = ["AgentClient"]

log = logging.getLogger(__name__)

# No responders, a timeout, or a connection closing or draining: nobody will answer.
_NO_ANSWER = (nats.errors.Error, TimeoutError)
_UNREADABLE = "the agent's reply was unreadable"

# Each kind of request: its subject, and how its reply is read.
_ROUTES: dict[RequestKind, tuple[Callable[[], str], Callable[[bytes], AgentReply]]] = {
    RequestKind.CANCEL: (subjects.run_cancel, runs.decode_cancel_reply),
    RequestKind.LIST_THREADS: (subjects.thread_list, runs.decode_thread_list_reply),
    RequestKind.LIST_RUNS: (subjects.run_list, runs.decode_run_list_reply),
    RequestKind.LIST_AGENTS: (subjects.agent_list, runs.decode_agent_list_reply),
    RequestKind.DECIDE: (subjects.approval_decide, runs.decode_decide_reply),
}


class AgentClient:
    def __init__(self, nc: NATS, timeout_s: float) -> None:
        self._nc = nc
        self._timeout_s = timeout_s
        self._intake = Intake(nc, timeout_s=timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, conn: Connection, request: runs.RunRequest) -> None:
        """Submit a run for ``conn`` without blocking its reader."""
        self._spawn(self._submit(conn, request), f"submit-{conn.user_id}")

    def request(self, conn: Connection, request: Request) -> None:
        """Send a cancel or list request for ``conn`` without blocking its reader."""
        self._spawn(self._request(conn, request), f"{request.kind.value}-{conn.user_id}")

    async def cancel_all(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, conn: Connection, request: runs.RunRequest) -> None:
        reply = await self._intake.submit(request)
        conn.execute(conn.session.submit_done(reply, request.client_msg_id))

    async def _request(self, conn: Connection, request: Request) -> None:
        subject, decode = _ROUTES[request.kind]
        conn.execute(await self._outcome(conn, request, subject(), decode))

    async def _outcome(
        self,
        conn: Connection,
        request: Request,
        subject: str,
        decode: Callable[[bytes], AgentReply],
    ) -> list[Command]:
        session = conn.session
        try:
            reply = decode(await self._ask(subject, runs.encode(request.message)))
        except _NO_ANSWER as exc:
            log.warning("no agent answered %s for user %s: %r", subject, conn.user_id, exc)
            return session.request_failed(ErrorCode.NO_AGENT_AVAILABLE, NO_AGENT_MESSAGE)
        except msgspec.DecodeError as exc:
            log.error("unreadable reply on %s for user %s: %s", subject, conn.user_id, exc)
            return session.request_failed(ErrorCode.AGENT_ERROR, _UNREADABLE)
        return session.request_done(reply)

    async def _ask(self, subject: str, payload: bytes) -> bytes:
        msg = await bus.request(self._nc, subject, payload, timeout_s=self._timeout_s)
        return msg.data
