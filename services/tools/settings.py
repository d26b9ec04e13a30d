"""The tool runner's settings, read once from the environment at start-up.

==================  =======  ================================================================
variable            default  meaning
==================  =======  ================================================================
NATS_URL et al.              see :class:`shared.settings.NatsSettings`
TOOL_TIMEOUT_S      30       seconds a tool may run before its call fails with tool_timeout
TOOL_CONCURRENCY    16       tool calls this process runs at once; further calls wait their turn
LOG_LEVEL           INFO     DEBUG, INFO, WARNING, ERROR or CRITICAL
==================  =======  ================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shared.settings import Env, NatsSettings, SettingsError

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_TIMEOUT_S", "LOG_LEVELS", "ToolsSettings"]

# Module constants rather than ``cls.<field>``: on a slots dataclass that is a member descriptor.
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONCURRENCY = 16
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class ToolsSettings:
    nats: NatsSettings = field(default_factory=NatsSettings)
    tool_timeout_s: float = DEFAULT_TIMEOUT_S
    tool_concurrency: int = DEFAULT_CONCURRENCY
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env | None = None) -> ToolsSettings:
        """Build from the environment, raising SettingsError that names any bad variable."""
        env = env or Env()
        timeout_s = env.float("TOOL_TIMEOUT_S", DEFAULT_TIMEOUT_S)
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise SettingsError(
                f"environment variable TOOL_TIMEOUT_S must be a positive number, got {timeout_s}"
            )
        concurrency = env.int("TOOL_CONCURRENCY", DEFAULT_CONCURRENCY)
        if concurrency < 1:
            raise SettingsError(
                f"environment variable TOOL_CONCURRENCY must be >= 1, got {concurrency}"
            )
        log_level = env.str("LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError(
                f"environment variable LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                f"got {log_level!r}"
            )
        return cls(NatsSettings.from_env(env), timeout_s, concurrency, log_level)
