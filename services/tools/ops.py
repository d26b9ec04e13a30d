"""The tool runner's operator surface: ``/healthz``, ``/readyz`` and ``/metrics`` on
``TOOLS_HTTP_PORT`` (default 8092), and the NATS Services API (``nats micro ls``).

Ready means connected to NATS (calls can arrive and replies leave). The listener starts before
the runner connects, so a probe hears "not ready" while NATS is away.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import Protocol

from nats.aio.client import Client as NATS
from nats.micro.service import Service

from services.tools.observe import TOOLS
from shared.opshttp import OpsServer, OpsSurface
from shared.settings import ObservabilitySettings

__all__ = ["DEFAULT_PORT", "PORT_VARIABLE", "ToolsOps", "nats_ready"]

log = logging.getLogger(__name__)

PORT_VARIABLE = "TOOLS_HTTP_PORT"
DEFAULT_PORT = 8092


class Observed(Protocol):
    @property
    def nc(self) -> NATS | None: ...


async def nats_ready(nc: NATS | None) -> str | None:
    if nc is None:
        return "not connected to NATS yet"
    if not nc.is_connected:
        return "NATS is away (reconnecting)"
    return None


class ToolsOps(OpsSurface):
    PORT_VARIABLE = PORT_VARIABLE
    SERVICE = "tools"
    DESCRIPTION = "agentwire tool runner: tools.call.*"

    def __init__(
        self, node: Observed, settings: ObservabilitySettings, tools: Container[str]
    ) -> None:
        """``tools``: the registry (asked at each call: MCP servers' tools come and go)."""
        self._node = node
        self._settings = settings
        TOOLS.known = tools
        self._http = OpsServer(TOOLS.registry if settings.metrics else None, self._ready)
        self._discovery: Service | None = None

    async def _ready(self) -> str | None:
        return await nats_ready(self._node.nc)
