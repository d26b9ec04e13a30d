"""The tool runner's settings, read once from the environment at start-up.

==========================  =======  ========================================================
variable                    default  meaning
==========================  =======  ========================================================
NATS_URL et al.                      see :class:`shared.settings.NatsSettings`
TOOL_TIMEOUT_S              30       seconds a tool may run before its call fails with tool_timeout
TOOL_CONCURRENCY            16       tool calls this process runs at once; further calls wait
TOOL_TIMEOUT_OVERRIDES      (none)   per-tool limits, ``name=seconds,...`` (beat TOOL_TIMEOUT_S)
TOOL_CONCURRENCY_OVERRIDES  (none)   per-tool concurrency, ``name=calls,...``
TOOL_HEARTBEAT_INTERVAL_S   1        how often a running call tells its caller it is alive
PROGRESS_FLUSH_MS           100      a running tool's progress is published at most this often
SLOW_TASK_DIR               (none)   where ``slow_task`` writes its progress files; unset: nowhere
MCP_SERVERS                 (none)   MCP servers whose tools join as ``<server>__<tool>``: a JSON
                                     object, see :mod:`services.tools.mcp_servers.config`
MCP_CONNECT_TIMEOUT_S       10       seconds to connect to an MCP server and list its tools
MCP_PROBE_INTERVAL_S        5        how often a connected MCP server's tools are listed again
                                     (a dead server is noticed within this; a call notices at once)
LOG_LEVEL                   INFO     DEBUG, INFO, WARNING, ERROR or CRITICAL
==========================  =======  ========================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from services.tools.mcp_servers.config import McpServerConfig, parse_mcp_servers
from shared.settings import Env, NatsSettings, SettingsError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_HEARTBEAT_INTERVAL_S",
    "DEFAULT_MCP_CONNECT_TIMEOUT_S",
    "DEFAULT_MCP_PROBE_INTERVAL_S",
    "DEFAULT_PROGRESS_FLUSH_MS",
    "DEFAULT_TIMEOUT_S",
    "LOG_LEVELS",
    "ToolsSettings",
]

# Module constants rather than ``cls.<field>``: on a slots dataclass that is a member descriptor.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONCURRENCY = 16
DEFAULT_HEARTBEAT_INTERVAL_S = 1.0
DEFAULT_PROGRESS_FLUSH_MS = 100.0
DEFAULT_MCP_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MCP_PROBE_INTERVAL_S = 5.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_T = TypeVar("_T", int, float)


@dataclass(frozen=True, slots=True)
class ToolsSettings:
    nats: NatsSettings = field(default_factory=NatsSettings)
    tool_timeout_s: float = DEFAULT_TIMEOUT_S
    tool_concurrency: int = DEFAULT_CONCURRENCY
    log_level: str = "INFO"
    timeout_overrides: dict[str, float] = field(default_factory=dict)
    concurrency_overrides: dict[str, int] = field(default_factory=dict)
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    slow_task_dir: Path | None = None
    progress_flush_ms: float = DEFAULT_PROGRESS_FLUSH_MS
    mcp_servers: tuple[McpServerConfig, ...] = ()
    mcp_connect_timeout_s: float = DEFAULT_MCP_CONNECT_TIMEOUT_S
    mcp_probe_interval_s: float = DEFAULT_MCP_PROBE_INTERVAL_S

    @classmethod
    def from_env(cls, env: Env | None = None) -> ToolsSettings:
        """Build from the environment, raising SettingsError that names any bad variable."""
        env = env or Env()
        slow_task_dir = env.optional("SLOW_TASK_DIR")
        return cls(
            nats=NatsSettings.from_env(env),
            tool_timeout_s=_positive(
                "TOOL_TIMEOUT_S", env.float("TOOL_TIMEOUT_S", DEFAULT_TIMEOUT_S)
            ),
            tool_concurrency=_at_least_one(
                "TOOL_CONCURRENCY", env.int("TOOL_CONCURRENCY", DEFAULT_CONCURRENCY)
            ),
            log_level=_log_level(env.str("LOG_LEVEL", "INFO").upper()),
            timeout_overrides=_pairs(env, "TOOL_TIMEOUT_OVERRIDES", float, _positive),
            concurrency_overrides=_pairs(env, "TOOL_CONCURRENCY_OVERRIDES", int, _at_least_one),
            heartbeat_interval_s=_positive(
                "TOOL_HEARTBEAT_INTERVAL_S",
                env.float("TOOL_HEARTBEAT_INTERVAL_S", DEFAULT_HEARTBEAT_INTERVAL_S),
            ),
            slow_task_dir=Path(slow_task_dir) if slow_task_dir else None,
            progress_flush_ms=_positive(
                "PROGRESS_FLUSH_MS", env.float("PROGRESS_FLUSH_MS", DEFAULT_PROGRESS_FLUSH_MS)
            ),
            mcp_servers=parse_mcp_servers(env.optional("MCP_SERVERS")),
            mcp_connect_timeout_s=_positive(
                "MCP_CONNECT_TIMEOUT_S",
                env.float("MCP_CONNECT_TIMEOUT_S", DEFAULT_MCP_CONNECT_TIMEOUT_S),
            ),
            mcp_probe_interval_s=_positive(
                "MCP_PROBE_INTERVAL_S",
                env.float("MCP_PROBE_INTERVAL_S", DEFAULT_MCP_PROBE_INTERVAL_S),
            ),
        )


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise SettingsError(f"environment variable {name} must be a positive number, got {value}")
    return value


def _at_least_one(name: str, value: int) -> int:
    if value < 1:
        raise SettingsError(f"environment variable {name} must be >= 1, got {value}")
    return value


def _log_level(level: str) -> str:
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"environment variable LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}"
        )
    return level


def _pairs(
    env: Env, name: str, convert: Callable[[str], _T], check: Callable[[str, _T], _T]
) -> dict[str, _T]:
    """``"a=1,b=2"`` as ``{"a": 1, "b": 2}``; tool names are checked against the registry later."""
    pairs: dict[str, _T] = {}
    for item in filter(None, (part.strip() for part in (env.optional(name) or "").split(","))):
        tool, _, raw = (piece.strip() for piece in item.partition("="))
        try:
            if not tool:
                raise ValueError(item)
            pairs[tool] = check(name, convert(raw))
        except ValueError:
            raise SettingsError(
                f"environment variable {name} must look like 'tool=value,...', got {item!r}"
            ) from None
    return pairs
