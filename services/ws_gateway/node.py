"""The gateway's lifecycle and its NATS side: connect, ensure the stream, submit runs, stop.

A submission runs in its own task, so a socket's reader keeps reading (a ``ping`` still gets
its ``pong``) while the agents think about a message. On stop every socket is told to reconnect
(``CloseCode.SERVER_RESTART``) before NATS is drained: a rolling restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from enum import Enum, auto

import msgspec
import nats.errors
from nats.aio.client import Client as NATS

from services.ws_gateway.hub import Hub
from services.ws_gateway.session import NO_AGENT_MESSAGE, Command
from services.ws_gateway.settings import GatewaySettings
from services.ws_gateway.transport import Connection
from shared import bus, subjects
from shared.errors import CloseCode, ErrorCode
from shared.wire import runs

__all__ = ["RESTART_REASON", "Node", "NodeState"]

log = logging.getLogger(__name__)

RESTART_REASON = "server restarting, reconnect"


class NodeState(Enum):
    NEW = auto()
    RUNNING = auto()
    STOPPING = auto()
    STOPPED = auto()


class Node:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._state = NodeState.NEW
        self._nc: NATS | None = None
        self._hub: Hub | None = None
        self._submissions: set[asyncio.Task[None]] = set()

    @property
    def state(self) -> NodeState:
        return self._state

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the gateway node has not started")
        return self._hub

    async def start(self) -> None:
        if self._state is not NodeState.NEW:
            raise RuntimeError(f"cannot start a node that is {self._state.name}")
        self._nc = await bus.connect(self.settings.nats, name="agentwire-gateway")
        await bus.ensure_events_stream(self._nc.jetstream(), self.settings.nats)
        self._hub = Hub(self._nc)
        self._state = NodeState.RUNNING
        log.info("gateway node running on %s", self.settings.nats.url)

    async def stop(self) -> None:
        """Tell every socket to reconnect, finish, and drain NATS. Idempotent."""
        if self._state in (NodeState.STOPPING, NodeState.STOPPED):
            return
        self._state = NodeState.STOPPING
        await self.close_sockets()
        for task in tuple(self._submissions):
            task.cancel()
        await asyncio.gather(*self._submissions, return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(nats.errors.Error):
                await self._nc.drain()
        self._state = NodeState.STOPPED
        log.info("gateway node stopped")

    async def close_sockets(
        self, code: CloseCode = CloseCode.SERVER_RESTART, reason: str = RESTART_REASON
    ) -> None:
        """Close every socket here and wait (bounded) for their close frames to go out."""
        if self._hub is None:
            return
        connections = list(self._hub.connections())
        for conn in connections:
            conn.close(code, reason)
        if connections:
            waits = [asyncio.create_task(conn.wait_closed()) for conn in connections]
            _, late = await asyncio.wait(waits, timeout=self.settings.close_timeout_s)
            for task in late:
                task.cancel()

    @contextlib.asynccontextmanager
    async def attached(self, conn: Connection) -> AsyncIterator[Connection]:
        """Keep ``conn`` in the hub while the block runs; a stopping node turns it away."""
        if self._state is not NodeState.RUNNING:
            conn.close(CloseCode.SERVER_RESTART, RESTART_REASON)
            yield conn
            return
        hub = self.hub
        await hub.join(conn)
        try:
            yield conn
        finally:
            await hub.leave(conn)

    def submit(self, conn: Connection, request: runs.RunRequest) -> None:
        """Submit a run for ``conn`` without blocking its reader."""
        task = asyncio.create_task(self._submit(conn, request), name=f"submit-{conn.user_id}")
        self._submissions.add(task)
        task.add_done_callback(self._submissions.discard)

    async def _submit(self, conn: Connection, request: runs.RunRequest) -> None:
        conn.execute(await self._request_run(conn, request))

    async def _request_run(self, conn: Connection, request: runs.RunRequest) -> list[Command]:
        session = conn.session
        if self._nc is None:
            return session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE, NO_AGENT_MESSAGE)
        try:
            msg = await bus.request(
                self._nc,
                subjects.run_submit(),
                runs.encode(request),
                timeout_s=self.settings.submit_timeout_s,
            )
            reply = runs.decode_submit_reply(msg.data)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError, TimeoutError):
            log.warning("no agent answered a run submission for user %s", request.user_id)
            return session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE, NO_AGENT_MESSAGE)
        except msgspec.DecodeError as exc:
            log.error("unreadable submit reply for user %s: %s", request.user_id, exc)
            return session.submit_failed(ErrorCode.AGENT_ERROR, "the agent's reply was unreadable")
        except nats.errors.Error as exc:  # connection closed or draining
            log.warning("run submission for user %s failed: %r", request.user_id, exc)
            return session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE, NO_AGENT_MESSAGE)
        return session.submit_done(reply, request.client_msg_id)
