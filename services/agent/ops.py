"""The agent process's operator surface: ``/healthz``, ``/readyz`` and ``/metrics`` on
``AGENT_HTTP_PORT`` (default 8091), and the NATS Services API (``nats micro ls``).

The listener starts before the node connects to NATS, so a probe hears "not ready" (rather than
nothing) while NATS is away, at start-up as later; discovery answers once the node is connected.
"""

from __future__ import annotations

import logging
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.micro.service import Service

from services.agent.observe import AGENT, name_agent
from shared import subjects
from shared.opshttp import OpsServer, OpsSurface
from shared.settings import ObservabilitySettings

__all__ = ["DEFAULT_PORT", "PORT_VARIABLE", "AgentOps", "Observed"]

log = logging.getLogger(__name__)

PORT_VARIABLE = "AGENT_HTTP_PORT"
DEFAULT_PORT = 8091


class Observed(Protocol):
    """What the surface reads of the agent node."""

    @property
    def nc(self) -> NATS | None: ...
    async def ready(self) -> str | None: ...
    def run_slots(self) -> tuple[int, int]: ...  # (slots, free)


class AgentOps(OpsSurface):
    PORT_VARIABLE = PORT_VARIABLE
    SERVICE = "agent"
    DESCRIPTION = "agentwire agent: takes runs from RUNS"

    def __init__(self, node: Observed, settings: ObservabilitySettings, agent_name: str) -> None:
        name_agent(agent_name)
        self._node = node
        self._settings = settings
        registry = AGENT.registry if settings.metrics else None
        self._http = OpsServer(registry, node.ready)
        self._discovery: Service | None = None
        AGENT.slots.read = lambda: node.run_slots()[0]
        AGENT.running.read = lambda: node.run_slots()[0] - node.run_slots()[1]
        AGENT.registry.before_scrape(self._look_at_queue)

    async def _look_at_queue(self) -> None:
        nc = self._node.nc
        if nc is None or not nc.is_connected:
            return
        info = await nc.jetstream().consumer_info(
            subjects.RUNS_STREAM, subjects.AGENTS_CONSUMER, timeout=1.0
        )
        AGENT.queued.value = info.num_pending or 0
