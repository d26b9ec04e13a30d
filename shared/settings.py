"""Reading settings from the environment: the only module that touches ``os.environ``.

Each service declares one frozen settings dataclass and builds it once at start-up with these
helpers; a missing or malformed variable raises :class:`SettingsError` naming it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Env", "NatsSettings", "ObservabilitySettings", "SettingsError"]


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(RuntimeError):
    pass


class Env:
    """Typed access to an environment mapping (``os.environ`` unless a test hands one in)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def str(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name)
        if value is None or value == "":
            if default is None:
                raise SettingsError(f"environment variable {name} is required")
            return default
        return value

    def optional(self, name: str) -> str | None:
        return self._environ.get(name) or None

    def bool(self, name: str, default: bool) -> bool:
        """``1/true/yes/on`` or ``0/false/no/off`` (any case); unset or empty: ``default``."""
        raw = (self._environ.get(name) or "").strip().lower()
        if not raw:
            return default
        if raw in _TRUE or raw in _FALSE:
            return raw in _TRUE
        raise SettingsError(f"environment variable {name} must be true or false, got {raw!r}")

    def int(self, name: str, default: int) -> int:
        raw = self._environ.get(name)
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(
                f"environment variable {name} must be an integer, got {raw!r}"
            ) from None

    def float(self, name: str, default: float) -> float:
        raw = self._environ.get(name)
        if not raw:
            return default
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(
                f"environment variable {name} must be a number, got {raw!r}"
            ) from None


@dataclass(frozen=True)  # no slots: from_env reads the class defaults
class NatsSettings:
    url: str = "nats://127.0.0.1:4222"
    events_max_age_s: float = 24 * 3600
    events_max_per_user: int = 10_000
    events_replicas: int = 1
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a log line

    @classmethod
    def from_env(cls, env: Env) -> NatsSettings:
        return cls(
            url=env.str("NATS_URL", cls.url),
            user=env.optional("NATS_USER"),
            password=env.optional("NATS_PASSWORD"),
            events_max_age_s=env.float("EVENTS_MAX_AGE_S", cls.events_max_age_s),
            events_max_per_user=env.int("EVENTS_MAX_PER_USER", cls.events_max_per_user),
            events_replicas=env.int("EVENTS_REPLICAS", cls.events_replicas),
        )


_LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)  # no slots: from_env reads the class defaults
class ObservabilitySettings:
    """What every service shares for being watched: logs, metrics, traces, its HTTP listener.

    ``http_port`` is the agent's and the tool runner's own listener (``AGENT_HTTP_PORT``,
    ``TOOLS_HTTP_PORT``; the gateway and auth serve ``/metrics`` on their HTTP port and pass no
    variable). ``http_port_explicit`` says whether the variable was set: an explicit port that is
    taken stops the service, the default one falls back to any free port (several agents on one
    machine, test stacks side by side).
    """

    log_format: str = "text"
    metrics: bool = True
    otlp_endpoint: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 0
    http_port_explicit: bool = False

    @classmethod
    def from_env(
        cls, env: Env, *, port_variable: str | None = None, default_port: int = 0
    ) -> ObservabilitySettings:
        log_format = env.str("LOG_FORMAT", cls.log_format).strip().lower()
        if log_format not in _LOG_FORMATS:
            raise SettingsError(
                f"environment variable LOG_FORMAT must be text or json, got {log_format!r}"
            )
        port, explicit = default_port, False
        if port_variable is not None:
            explicit = env.optional(port_variable) is not None
            port = env.int(port_variable, default_port)
            if not 0 <= port < 65536:
                raise SettingsError(
                    f"environment variable {port_variable} must be 0-65535, got {port!r}"
                )
        host_variable = port_variable.replace("_PORT", "_HOST") if port_variable else None
        return cls(
            log_format=log_format,
            metrics=env.bool("METRICS_ENABLED", cls.metrics),
            otlp_endpoint=env.optional("OTEL_EXPORTER_OTLP_ENDPOINT"),
            http_host=env.str(host_variable, cls.http_host) if host_variable else cls.http_host,
            http_port=port,
            http_port_explicit=explicit,
        )
