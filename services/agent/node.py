"""The agent process's lifecycle: wire database, NATS, runner, supervisor and handlers together.

``start`` brings the node to "taking runs": the cancel broadcasts are heard and the supervisor
runs before any request can arrive, and the intake pulls from the RUNS queue last. ``stop`` first
stops taking work (no more pulls; the requests' subscriptions are drained, so a request already
delivered is still answered), then lets running runs finish for ``shutdown_grace_s`` and fails
the rest (agent_stopped), then stops the supervisor (which kept their leases until their ends
were announced), and only then closes NATS and the database.
Tests run a node in-process; ``__main__`` runs one per process.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent import migrate
from services.agent.agents.registry import agent_list, build_agents
from services.agent.approval_store import ApprovalStore
from services.agent.approvals import ApprovalGate
from services.agent.bus import (
    Responder,
    approval_broadcaster,
    broadcaster,
    subscribe_control,
    subscribe_requests,
)
from services.agent.catalog import ToolCatalog
from services.agent.closing import Closer
from services.agent.hosting import ApprovalPolicy
from services.agent.intake import IntakeConsumer, WaitingQueue
from services.agent.ledger import RunLedger
from services.agent.planner import InfraAnalystPlanner, Planner
from services.agent.repository import AgentRepository, open_engine
from services.agent.runner import Runner
from services.agent.service import AgentService, DoubleTextPolicy
from services.agent.settings import AgentSettings
from services.agent.supervision import Supervisor
from services.agent.tasks import RunTasks, Slots
from services.agent.toolclient import ToolClient
from shared.bus import EventPublisher, connect, ensure_events_stream
from shared.runqueue import ensure_runs_stream
from shared.settings import SettingsError

__all__ = ["AgentNode", "instance_id"]

log = logging.getLogger(__name__)


def instance_id() -> str:
    """Who holds a run, as written in its row: host and pid first, for whoever reads the table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class AgentNode:
    def __init__(self, settings: AgentSettings, planner: Planner | None = None) -> None:
        self.settings = settings
        self.instance = instance_id()
        self._planner = planner or InfraAnalystPlanner()
        self._engine: AsyncEngine | None = None
        self._nc: NATS | None = None
        self._subscriptions: list[Subscription | Responder] = []  # each drained on stop
        self._tasks: RunTasks | None = None
        self._gate: ApprovalGate | None = None
        self._intake: IntakeConsumer | None = None
        self._supervisor: Supervisor | None = None
        self.repository: AgentRepository | None = None
        self.ledger: RunLedger | None = None

    async def start(self) -> None:
        settings = self.settings
        try:
            self._engine = open_engine(settings.database_url)
        except ValueError as exc:
            raise SettingsError(f"environment variable DATABASE_URL is not usable: {exc}") from None
        if settings.migrate_on_start:
            await migrate.upgrade(self._engine)
        else:
            await migrate.check_at_head(self._engine)
        self.repository = AgentRepository(self._engine)
        self.ledger = RunLedger(self._engine, owner=self.instance, lease_s=settings.run_lease_s)
        self._nc = nc = await connect(settings.nats, name="agentwire-agent")
        await ensure_events_stream(nc.jetstream(), settings.nats)
        await ensure_runs_stream(nc.jetstream(), settings.nats)
        queue = WaitingQueue(nc)
        self._gate = ApprovalGate(
            ApprovalStore(self.ledger.database),
            timeout_s=settings.approval_timeout_s,
            broadcast=approval_broadcaster(nc),
        )
        self._subscriptions.append(await self._gate.subscribe(nc))
        self._tasks = self._run_tasks(nc, self.ledger, queue)
        runner = self._tasks.runner
        service = AgentService(
            agents=agent_list(dict(runner.agents), runner.default_agent),
            store=self.repository,
            ledger=self.ledger,
            tasks=self._tasks,
            queue=queue,
            broadcast_cancel=broadcaster(nc),
            approvals=self._gate,
        )
        self._subscriptions.append(await subscribe_control(nc, service))
        self._supervisor = Supervisor(
            self._tasks, self.ledger, interval_s=settings.supervise_every_s
        )
        self._supervisor.start()
        self._subscriptions += await subscribe_requests(nc, service)
        self._intake = IntakeConsumer(
            nc,
            ledger=self.ledger,
            tasks=self._tasks,
            closer=self._closer,
            queue=queue,
            ack_wait_s=settings.intake_ack_wait_s,
            max_deliver=settings.intake_max_deliver,
            reject_busy=settings.double_text_policy is DoubleTextPolicy.REJECT,
        )
        await self._intake.start()
        log.info("agent %s (%s) taking runs", settings.agent_name, self.instance)

    def _run_tasks(self, nc: NATS, ledger: RunLedger, queue: WaitingQueue) -> RunTasks:
        settings = self.settings
        events = EventPublisher(nc.jetstream(), max_payload=nc.max_payload)
        tools = ToolClient(
            nc,
            timeout_s=settings.tool_call_timeout_s,
            heartbeat_timeout_s=settings.tool_heartbeat_timeout_s,
        )
        agents, default = build_agents(settings, self._planner)
        gate = self._gate
        assert gate is not None  # made in start(), before the tasks
        runner = Runner(
            events=events,
            tools=tools,
            book=ledger,
            agents=agents,
            default_agent=default,
            catalog=ToolCatalog(nc),
            approvals=ApprovalPolicy(gate, settings.approval_tools, settings.no_approval_tools),
            stop_grace_s=settings.run_stop_grace_s,
            agent_name=settings.agent_name,
            think_delay_s=settings.think_delay_s,
            run_timeout_s=settings.run_timeout_s,
            typing=settings.typing,
        )
        self._closer = Closer(
            ledger=ledger,
            events=events,
            tools=tools,
            agent_name=settings.agent_name,
            approvals=gate.store,
        )
        return RunTasks(
            runner=runner,
            closer=self._closer,
            ledger=ledger,
            slots=Slots(settings.max_concurrent_runs),
            order=queue,
            lease_s=settings.run_lease_s,
            stop_grace_s=settings.run_stop_grace_s,
        )

    # What the operator surface reads (services/agent/ops.py)

    @property
    def nc(self) -> NATS | None:
        return self._nc

    def run_slots(self) -> tuple[int, int]:
        """(slots, free) of this process; (0, 0) before it starts."""
        slots = self._tasks.slots if self._tasks is not None else None
        return (slots.size, slots.free) if slots is not None else (0, 0)

    async def ready(self) -> str | None:
        """Why this process cannot take runs now (None: it can): NATS, the database."""
        if self._intake is None or self._nc is None:
            return "not taking runs yet (starting, or stopping)"
        if not self._nc.is_connected:
            return "NATS is away (reconnecting)"
        if self._engine is None:
            return "no database"
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            return f"the database does not answer: {type(exc).__name__}"
        return None

    async def stop(self) -> None:
        """Stop taking runs, finish or fail the ones in flight, then close. Safe to call twice."""
        if self._intake is not None:
            await self._intake.stop()
            self._intake = None
        for subscription in self._subscriptions:
            try:
                await subscription.drain()
            except Exception as exc:  # NATS already gone: there is nothing left to drain
                log.warning("could not drain a subscription: %r", exc)
        self._subscriptions = []
        if self._tasks is not None:
            await self._tasks.shutdown(self.settings.shutdown_grace_s)
            self._tasks = None
        if self._supervisor is not None:
            await self._supervisor.stop()
            self._supervisor = None
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None
        if self.ledger is not None:
            await self.ledger.close()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        log.info("agent stopped")

    async def __aenter__(self) -> AgentNode:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
