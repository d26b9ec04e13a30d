"""``MCP_SERVERS``: which MCP servers the tool runner puts its tools in front of.

A JSON object naming each server; a server is a stdio command *or* a streamable-HTTP URL::

    {
      "files": {"command": ["python", "-m", "my_files_server"], "env": {"ROOT": "/srv"}},
      "docs":  {"url": "http://127.0.0.1:9000/mcp", "headers": {"Authorization": "Bearer ..."}},
      "slow":  {"url": "http://10.0.0.5/mcp", "timeout_s": 120}
    }

``command`` is the program and its arguments (a list, no shell); ``env`` adds variables to the
few the SDK passes on (``HOME``, ``PATH``, ...: the runner's own secrets stay out); ``cwd`` is
its working directory. ``headers`` go with every HTTP request. ``timeout_s`` is how long one
call to this server's tools may run (default ``TOOL_TIMEOUT_S``; ``TOOL_TIMEOUT_OVERRIDES``
naming ``<server>__<tool>`` beats both). A server's name is the first part of its tools' names,
``<server>__<tool>``: letters, digits, ``_`` and ``-``, no ``__``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shared.settings import SettingsError
from shared.subjects import is_safe_token

__all__ = ["VARIABLE", "McpServerConfig", "parse_mcp_servers"]

VARIABLE = "MCP_SERVERS"
_KEYS = {"command", "env", "cwd", "url", "headers", "timeout_s"}


@dataclass(frozen=True, slots=True)
class McpServerConfig:
    name: str
    command: tuple[str, ...] = ()  # a stdio server: the program and its arguments
    url: str | None = None  # a streamable-HTTP server
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None  # None: the runner's TOOL_TIMEOUT_S

    def describe(self) -> str:
        """Where the server is, for log lines (no headers: they may hold a token)."""
        return self.url if self.url is not None else " ".join(self.command)


def parse_mcp_servers(raw: str | None) -> tuple[McpServerConfig, ...]:
    """The servers ``raw`` names, or SettingsError saying what is wrong with which server."""
    if not raw or not raw.strip():
        return ()
    try:
        servers = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise _bad(f"is not JSON ({exc})") from None
    if not isinstance(servers, dict):
        raise _bad('must be a JSON object: {"name": {"command": [...]} or {"url": "..."}}')
    return tuple(_server(name, spec) for name, spec in servers.items())


def _server(name: str, spec: Any) -> McpServerConfig:
    if not is_safe_token(name) or "__" in name:
        raise _bad(f"server name {name!r} must be 1-64 of A-Z, a-z, 0-9, '_', '-' and no '__'")
    if not isinstance(spec, dict):
        raise _bad(f"server {name!r} must be an object with a command or a url")
    unknown = set(spec) - _KEYS
    if unknown:
        raise _bad(f"server {name!r} has unknown keys {sorted(unknown)} (known: {sorted(_KEYS)})")
    command, url = spec.get("command"), spec.get("url")
    if (command is None) == (url is None):
        raise _bad(f"server {name!r} needs exactly one of command (stdio) or url (HTTP)")
    if command is not None and (not _strings(command, list) or not command):
        raise _bad(f"server {name!r}: command must be a non-empty list of strings")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise _bad(f"server {name!r}: url must be an http:// or https:// URL")
    return McpServerConfig(
        name=name,
        command=tuple(command or ()),
        url=url,
        env=_mapping(name, "env", spec.get("env")),
        cwd=_text(name, "cwd", spec.get("cwd")),
        headers=_mapping(name, "headers", spec.get("headers")),
        timeout_s=_timeout(name, spec.get("timeout_s")),
    )


def _strings(value: Any, kind: type) -> bool:
    items = value.values() if kind is dict and isinstance(value, dict) else value
    return isinstance(value, kind) and all(isinstance(item, str) for item in items)


def _mapping(name: str, key: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not _strings(value, dict):
        raise _bad(f"server {name!r}: {key} must be an object of strings")
    return dict(value)


def _text(name: str, key: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _bad(f"server {name!r}: {key} must be a string")
    return value


def _timeout(name: str, value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise _bad(f"server {name!r}: timeout_s must be a positive number")
    return float(value)


def _bad(problem: str) -> SettingsError:
    return SettingsError(f"environment variable {VARIABLE} {problem}")
