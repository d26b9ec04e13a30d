"""The agent process's lifecycle: wire database, NATS, runner and handler together; take them apart.

``start`` brings the node to "taking runs"; ``stop`` first stops taking them (the submission
subscription is drained, so a request already delivered is still answered), then lets running runs
finish for ``shutdown_grace_s`` and fails the rest, and only then closes NATS and the database
those last events and records need. Tests run a node in-process; ``__main__`` runs one per process.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent.bus import subscribe_submissions
from services.agent.planner import InfraAnalystPlanner, Planner
from services.agent.repository import AgentRepository, create_tables, open_engine
from services.agent.runner import Runner
from services.agent.service import AgentService
from services.agent.settings import AgentSettings
from services.agent.toolclient import ToolClient
from shared.bus import EventPublisher, connect, ensure_events_stream
from shared.settings import SettingsError

__all__ = ["AgentNode"]

log = logging.getLogger(__name__)


class AgentNode:
    def __init__(self, settings: AgentSettings, planner: Planner | None = None) -> None:
        self.settings = settings
        self._planner = planner or InfraAnalystPlanner()
        self._engine: AsyncEngine | None = None
        self._nc: NATS | None = None
        self._subscription: Subscription | None = None
        self._service: AgentService | None = None
        self.repository: AgentRepository | None = None

    async def start(self) -> None:
        settings = self.settings
        try:
            self._engine = open_engine(settings.database_url)
        except ValueError as exc:
            raise SettingsError(f"environment variable DATABASE_URL is not usable: {exc}") from None
        await create_tables(self._engine)
        self.repository = AgentRepository(self._engine)
        self._nc = await connect(settings.nats, name="agentwire-agent")
        js = self._nc.jetstream()
        await ensure_events_stream(js, settings.nats)
        runner = Runner(
            events=EventPublisher(js),
            tools=ToolClient(self._nc, timeout_s=settings.tool_call_timeout_s),
            ledger=self.repository,
            planner=self._planner,
            agent_name=settings.agent_name,
            max_concurrent_runs=settings.max_concurrent_runs,
            think_delay_s=settings.think_delay_s,
        )
        self._service = AgentService(self.repository, runner)
        self._subscription = await subscribe_submissions(self._nc, self._service)
        log.info("agent %s taking runs", settings.agent_name)

    async def stop(self) -> None:
        """Stop taking runs, finish or fail the ones in flight, then close. Safe to call twice."""
        if self._subscription is not None:
            try:
                await self._subscription.drain()
            except Exception as exc:  # NATS already gone: there is nothing left to drain
                log.warning("could not drain the submission subscription: %r", exc)
            self._subscription = None
        if self._service is not None:
            await self._service.shutdown(self.settings.shutdown_grace_s)
            self._service = None
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None
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
