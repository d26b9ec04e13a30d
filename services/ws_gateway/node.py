"""The gateway's lifecycle and its NATS side: connect, read the stream, talk to agents, stop.

The node is every connection's :class:`~services.ws_gateway.transport.Backend`: submissions and
agent requests go to the :class:`~services.ws_gateway.agents.AgentClient`, replays to the
:class:`~services.ws_gateway.replay.Replayer`, fresh tokens to the
:class:`~services.ws_gateway.authority.Authority`. It runs the gateway's timers, one each for
all sockets (not one per socket): WebSocket pings, heartbeats, and token expiry (which also
forgets old revocations). After NATS reconnects it asks every socket to repair from the stream.

A user over ``MAX_CONNECTIONS_PER_USER`` sockets on this gateway has the new one closed with
``TOO_MANY_REQUESTS`` (4429); the limit is per gateway process.

On stop every socket is told to reconnect (``CloseCode.SERVER_RESTART``) before NATS is drained:
the client resumes with ``after_seq`` on any gateway, so a rolling restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from enum import Enum, auto

import nats.errors

from services.ws_gateway.agents import AgentClient
from services.ws_gateway.authority import Authority, TokenRevoked
from services.ws_gateway.commands import LoadRun
from services.ws_gateway.eventlog import EventLog
from services.ws_gateway.hub import Hub
from services.ws_gateway.metrics import GATEWAY
from services.ws_gateway.replay import Replayer
from services.ws_gateway.session import NO_AGENT_MESSAGE, Replay, Request
from services.ws_gateway.settings import GatewaySettings, LiveSubscription
from services.ws_gateway.transport import Connection, Flusher
from shared import bus, runqueue
from shared.errors import CloseCode, ErrorCode, Unauthorized
from shared.natsclient import Client as NatsClient
from shared.tokens import AccessClaims
from shared.wire import runs
from shared.wire.revocation import Revocation

__all__ = ["RESTART_REASON", "TOO_MANY_CONNECTIONS_REASON", "Node", "NodeState"]

log = logging.getLogger(__name__)

RESTART_REASON = "server restarting, reconnect"
TOO_MANY_CONNECTIONS_REASON = "too many connections"
# Expiry is checked once a second for every socket: a close lands at most a second after the
# grace, and 10,000 sockets cost one cheap comparison each.
_EXPIRY_TICK_S = 1.0


class NodeState(Enum):
    NEW = auto()
    RUNNING = auto()
    STOPPING = auto()
    STOPPED = auto()


class Node:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._state = NodeState.NEW
        self._nc: NatsClient | None = None
        self._hub: Hub | None = None
        self._agents: AgentClient | None = None
        self._replayer: Replayer | None = None
        self._timers: list[asyncio.Task[None]] = []
        self._auth_tasks: set[asyncio.Task[None]] = set()
        self.flusher = Flusher()  # one for all of this gateway's sockets
        self.authority = Authority(settings, self._revoked)

    @property
    def state(self) -> NodeState:
        return self._state

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise RuntimeError("the gateway node has not started")
        return self._hub

    @property
    def nc(self) -> NatsClient:
        if self._nc is None:
            raise RuntimeError("the gateway node has not started")
        return self._nc

    async def start(self) -> None:
        if self._state is not NodeState.NEW:
            raise RuntimeError(f"cannot start a node that is {self._state.name}")
        nc = self._nc = await bus.connect(
            self.settings.nats, name="agentwire-gateway", on_reconnected=self._repair
        )
        await bus.ensure_events_stream(nc.jetstream(), self.settings.nats)
        await runqueue.ensure_runs_stream(nc.jetstream(), self.settings.nats)
        await self.authority.start(nc)
        event_log = EventLog(nc, timeout_s=self.settings.submit_timeout_s)
        await event_log.start()
        per_user = self.settings.live_subscription is LiveSubscription.PER_USER
        self._hub = Hub(nc, event_log, per_user=per_user)
        await self._hub.start()
        self._agents = AgentClient(nc, self.settings.submit_timeout_s)
        self._replayer = Replayer(
            event_log,
            page_events=self.settings.replay_page_events,
            snapshot_window_s=self.settings.snapshot_window_s,
        )
        if self.settings.heartbeat_interval_s > 0:
            self._timers.append(asyncio.create_task(self._beat(), name="gateway-heartbeat"))
        if self.settings.ws_ping_interval is not None:
            self._timers.append(asyncio.create_task(self._keepalive(), name="gateway-keepalive"))
        self._timers.append(asyncio.create_task(self._expire(), name="gateway-expiry"))
        self._state = NodeState.RUNNING
        log.info("gateway node running on %s", self.settings.nats.url)

    async def stop(self) -> None:
        """Tell every socket to reconnect, finish, and drain NATS. Idempotent."""
        if self._state in (NodeState.STOPPING, NodeState.STOPPED):
            return
        self._state = NodeState.STOPPING
        for task in (*self._timers, *self._auth_tasks):
            task.cancel()
        await asyncio.gather(*self._timers, *self._auth_tasks, return_exceptions=True)
        await self.close_sockets()
        if self._agents is not None:
            await self._agents.cancel_all()
        if self._hub is not None:
            await self._hub.close()
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
        if hub.count(conn.user_id) >= self.settings.max_connections_per_user:
            conn.close(CloseCode.TOO_MANY_REQUESTS, TOO_MANY_CONNECTIONS_REASON)
            yield conn
            return
        await hub.join(conn)  # no await between the count and the join: the limit holds
        GATEWAY.sockets_open.value += 1
        try:
            yield conn
        finally:
            GATEWAY.sockets_open.value -= 1
            await hub.leave(conn)

    async def authenticate(self, token: str | None) -> AccessClaims:
        """A handshake's token: its claims, or Unauthorized / TokenRevoked saying why not."""
        return await self.authority.verify(token)

    # The connections' backend

    def reauthenticate(self, conn: Connection, token: str) -> None:
        """Verify a socket's fresh token without blocking its reader."""
        task = asyncio.create_task(self._reauthenticate(conn, token), name="ws-reauth")
        self._auth_tasks.add(task)
        task.add_done_callback(self._auth_tasks.discard)

    async def _reauthenticate(self, conn: Connection, token: str) -> None:
        try:
            claims = await self.authority.verify(token)
        except TokenRevoked as exc:
            conn.execute(conn.session.reauth_refused(CloseCode.SESSION_REVOKED, exc.message))
        except Unauthorized as exc:
            conn.execute(conn.session.reauth_refused(CloseCode.UNAUTHORIZED, exc.message[:120]))
        else:
            conn.execute(conn.session.reauthenticated(claims))

    def submit(self, conn: Connection, request: runs.RunRequest) -> None:
        """Submit a run for ``conn`` without blocking its reader."""
        if self._agents is None:
            conn.execute(conn.session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE, NO_AGENT_MESSAGE))
            return
        self._agents.submit(conn, request)

    def request(self, conn: Connection, request: Request) -> None:
        """Send a cancel or list request for ``conn`` without blocking its reader."""
        if self._agents is None:
            conn.execute(conn.session.request_failed(ErrorCode.NO_AGENT_AVAILABLE))
            return
        self._agents.request(conn, request)

    async def replay(self, conn: Connection, replay: Replay) -> None:
        """Run ``conn``'s replay (as its replay task); a bug closes that one socket, no more."""
        try:
            if self._replayer is None:
                raise RuntimeError("the gateway node has not started")
            await self._replayer.run(conn, replay)
        except Exception:
            log.exception("replay for user %s failed", conn.user_id)
            conn.execute(conn.session.replay_failed(replay.generation))

    async def load_run(self, conn: Connection, load: LoadRun) -> None:
        """Answer ``conn``'s ``run_events`` (as one of its tasks)."""
        if self._replayer is None:
            message = "the gateway is not ready to read the event log; try again"
            conn.execute(conn.session.request_failed(ErrorCode.EVENT_LOG_UNAVAILABLE, message))
            return
        await self._replayer.load_run(conn, load)

    # Timers and NATS events

    async def _beat(self) -> None:
        """The one heartbeat timer: each tick, every socket quiet since the last gets one."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval_s)
            self.hub.heartbeat()

    async def _keepalive(self) -> None:
        """The one WebSocket ping timer: each tick, every socket is pinged, and one whose last
        ping went unanswered for over ``WS_PING_TIMEOUT_S`` is closed (1011) and freed."""
        interval = self.settings.ws_ping_interval_s
        timeout = self.settings.ws_ping_timeout or float("inf")
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            self.hub.keepalive(loop.time(), timeout)

    async def _expire(self) -> None:
        """The one expiry timer: warn sockets whose token is near its end, close expired ones."""
        while True:
            await asyncio.sleep(_EXPIRY_TICK_S)
            self.hub.expire(time.time())
            self.authority.revocations.prune()

    def _revoked(self, revocation: Revocation) -> None:
        if self._hub is not None:
            self._hub.revoke(revocation)

    async def _repair(self) -> None:
        if self._hub is not None and self._state is NodeState.RUNNING:
            log.info("nats reconnected: %d users' sockets check the stream", len(self._hub))
            self._hub.repair()
            # Revocations published meanwhile; not awaited: nats-py awaits this callback.
            task = asyncio.create_task(self.authority.catch_up(self.nc), name="revocations")
            self._auth_tasks.add(task)
            task.add_done_callback(self._auth_tasks.discard)
