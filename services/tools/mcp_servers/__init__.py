"""MCP servers behind the tool runner: their tools join the registry as ``<server>__<tool>``.

``config`` (the ``MCP_SERVERS`` setting), ``link`` (one server: connection, listing, calls,
reconnects), ``results`` (what a server's answer becomes: a result or an error code).

A server's tools are called like any other tool: the runner validates the call against the
tool's JSON Schema, publishes ``tool_executing``, heartbeats, turns the server's progress
notifications (the SDK sends a ``progressToken`` with every call) into ``tool_progress``,
publishes ``tool_completed``. A stop cancels the call's task, and the SDK tells the server with
``notifications/cancelled``. A tool whose name cannot be a subject token, or that a built-in
tool already has, is skipped with a log line.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable

from mcp_types import Tool as McpTool

from services.tools.mcp_servers.config import McpServerConfig, parse_mcp_servers
from services.tools.mcp_servers.link import (
    DEFAULT_BACKOFF_MAX_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_PROBE_INTERVAL_S,
    McpLink,
)
from services.tools.registry import Registry, Tool
from shared.subjects import is_safe_token

__all__ = ["McpServerConfig", "McpServers", "is_mcp_tool", "parse_mcp_servers", "tool_name"]

log = logging.getLogger(__name__)

Offer = Callable[[str], Awaitable[None]]  # start (or stop) taking calls for a tool name


def tool_name(server: str, tool: str) -> str:
    return f"{server}__{tool}"


def is_mcp_tool(name: str, configs: Iterable[McpServerConfig]) -> bool:
    """Whether ``name`` would be a tool of one of these servers (known only once it connects)."""
    return any(name.startswith(tool_name(config.name, "")) for config in configs)


class McpServers:
    """Every configured server's link, and which registered tools came from which server."""

    def __init__(
        self,
        configs: Iterable[McpServerConfig],
        registry: Registry,
        *,
        offer: Offer,
        withdraw: Offer,
        timeouts: dict[str, float] | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
    ) -> None:
        """``timeouts``: TOOL_TIMEOUT_OVERRIDES for these servers' tools (by registered name),
        which beat a server's own ``timeout_s``."""
        self._registry = registry
        self._timeouts = timeouts or {}
        self._offer = offer
        self._withdraw = withdraw
        self._connect_timeout_s = connect_timeout_s
        self._owned: dict[str, set[str]] = {}  # server -> the registered names of its tools
        self._links = [
            McpLink(
                config,
                on_up=self._up,
                on_down=self._down,
                connect_timeout_s=connect_timeout_s,
                probe_interval_s=probe_interval_s,
                backoff_max_s=backoff_max_s,
            )
            for config in configs
        ]

    async def start(self) -> None:
        """Connect to every server; return once each has connected or failed its first try
        (a server down at start is retried in the background)."""
        for link in self._links:
            link.start()
        await asyncio.gather(
            *(link.first_attempt(self._connect_timeout_s + 1) for link in self._links)
        )

    async def stop(self) -> None:
        await asyncio.gather(*(link.stop() for link in self._links))

    async def _up(self, link: McpLink, tools: list[McpTool]) -> None:
        owned = self._owned.setdefault(link.name, set())
        kept: set[str] = set()
        for tool in tools:
            name = tool_name(link.name, tool.name)
            if not is_safe_token(name):
                log.warning(
                    "MCP server %s: tool %r skipped: %r is not 1-64 of A-Z a-z 0-9 _ -",
                    link.name,
                    tool.name,
                    name,
                )
                continue
            if name in self._registry and name not in owned:
                log.warning("MCP server %s: tool %r skipped: %s exists", link.name, tool.name, name)
                continue
            self._registry.remove(name)
            timeout_s = self._timeouts.get(name, link.config.timeout_s)
            self._registry.add(_as_tool(link, tool, name, timeout_s))
            kept.add(name)
            owned.add(name)
            await self._offer(name)
        for gone in owned - kept:
            await self._forget(link.name, gone)

    async def _down(self, link: McpLink) -> None:
        for name in set(self._owned.get(link.name, ())):
            await self._forget(link.name, name)

    async def _forget(self, server: str, name: str) -> None:
        self._owned[server].discard(name)
        self._registry.remove(name)
        await self._withdraw(name)


def _as_tool(link: McpLink, tool: McpTool, name: str, timeout_s: float | None) -> Tool:
    description = tool.description or tool.title or tool.name
    return Tool(
        name=name,
        description=description,
        parameters=dict(tool.input_schema or {"type": "object"}),
        run=functools.partial(link.call, tool.name),
        timeout_s=timeout_s,
        reports_progress=True,
    )
