"""Which tools exist, what parameters each takes, and turning a call's raw parameters into them.

A :class:`Tool` is a name, a one-line description, a :class:`Parameters` Struct and an async
function taking that Struct, optionally with its own time and concurrency limits (which beat the
runner's ``TOOL_TIMEOUT_S``; the environment can set both, see :meth:`Registry.limit`). A tool
that can tell how far it got says so (``reports_progress``): its function then also takes a
``progress`` keyword, a :class:`Progress` callable the runner publishes as ``tool_progress``.
The Struct is the one source of truth for the parameters: it validates the call
(``msgspec.convert``, whose messages name the offending field) and it generates the JSON Schema
:meth:`Registry.describe` hands to whoever plans the calls.

A tool whose parameters are defined elsewhere (an MCP server's tool) carries that JSON Schema
itself instead of a Struct: the schema is handed out as it is, a call is checked against it
(``jsonschema``) and reaches ``run`` as a plain dict. Its owner stays the judge: the server
validates again and may refuse what the schema let through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import jsonschema
import msgspec

from shared.errors import AgentwireError, ErrorCode
from shared.subjects import is_safe_token
from shared.wire.tools import ToolSpec

__all__ = [
    "NO_PROGRESS",
    "InvalidParameters",
    "Parameters",
    "Progress",
    "Registry",
    "Tool",
    "ToolFailed",
    "UnknownTool",
]

JsonSchema = dict[str, Any]

log = logging.getLogger(__name__)


class Progress(Protocol):
    """How a running tool says how far it got: ``fraction`` of the work done (0..1, None when
    it cannot tell) and a ``message`` for people ("step 3 of 10"). Returns at once and never
    raises: the runner publishes the newest report at most every ``PROGRESS_FLUSH_MS``."""

    def __call__(self, fraction: float | None = None, message: str | None = None) -> None: ...


def _no_progress(fraction: float | None = None, message: str | None = None) -> None:
    return None


NO_PROGRESS: Progress = _no_progress  # a tool called outside a runner (a test) reports nowhere


class UnknownTool(AgentwireError):
    code = ErrorCode.UNKNOWN_TOOL


class InvalidParameters(AgentwireError):
    code = ErrorCode.INVALID_PARAMETERS


class ToolFailed(AgentwireError):
    """Raised by a tool for a failure whose message is fit to show the user; its code is
    ``tool_failed`` unless the tool knows better (``tool_unavailable``, ``tool_timeout``,
    ``invalid_parameters``: what a tool standing for another server can tell)."""

    code = ErrorCode.TOOL_FAILED


class Parameters(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base of every tool's parameters.

    Unknown fields are refused, unlike on bus messages: a misspelt parameter silently replaced
    by its default would give a confident answer to a question nobody asked.
    """


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: type[Parameters] | JsonSchema  # a Struct, or a JSON Schema carried as it is
    run: Callable[[Any], Awaitable[Any]]
    timeout_s: float | None = None  # None: the runner's TOOL_TIMEOUT_S
    concurrency: int | None = None  # None: only the runner's TOOL_CONCURRENCY applies
    reports_progress: bool = False  # ``run`` takes a ``progress=`` keyword (a Progress)
    requires_approval: bool = False  # a person approves each call first (the run host asks)
    knows_caller: bool = False  # ``run`` takes a ``caller=`` keyword: the user's id

    def validate(self, raw: dict[str, Any]) -> Parameters | dict[str, Any]:
        """The call's parameters as this tool's Struct, defaults filled in (or, for a tool
        carrying a JSON Schema, the dict itself once the schema accepts it)."""
        if isinstance(self.parameters, dict):
            return _checked(self.name, self.parameters, raw)
        try:
            return msgspec.convert(raw, self.parameters)
        except msgspec.ValidationError as exc:
            raise InvalidParameters(f"invalid parameters for {self.name}: {exc}") from None

    def schema(self) -> JsonSchema:
        """The parameters' JSON Schema, inlined (no ``$ref``) so it stands on its own."""
        if isinstance(self.parameters, dict):
            return self.parameters
        _, components = msgspec.json.schema_components([self.parameters])
        return components[self.parameters.__name__]


def _checked(name: str, schema: JsonSchema, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(raw))
    except Exception as exc:
        # A schema this library cannot use (a broken $ref, an unknown type): the server that
        # wrote it still validates the call, so pass it on rather than refuse it.
        log.warning("the JSON Schema of %s cannot be checked here (%r)", name, exc)
        return raw
    if error is not None:
        where = error.json_path
        raise InvalidParameters(f"invalid parameters for {name}: {error.message} - at `{where}`")
    return raw


class Registry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        # The name becomes the last token of ``tools.call.<name>``.
        if not is_safe_token(tool.name):
            raise ValueError(f"tool name {tool.name!r} cannot be a subject token")
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise UnknownTool(f"no tool named {name!r} (known tools: {known})") from None

    def limit(
        self,
        timeouts: dict[str, float] | None = None,
        concurrency: dict[str, int] | None = None,
    ) -> None:
        """Give named tools their own time or concurrency limit; an unknown name is UnknownTool."""
        for name, timeout_s in (timeouts or {}).items():
            self._tools[name] = replace(self.get(name), timeout_s=timeout_s)
        for name, calls in (concurrency or {}).items():
            self._tools[name] = replace(self.get(name), concurrency=calls)

    def remove(self, name: str) -> None:
        """Forget a tool (its server went away); calls already holding it run on."""
        self._tools.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[ToolSpec]:
        """Every tool as the catalog hands it out (``tools.catalog``)."""
        return [
            ToolSpec(
                name=tool.name,
                description=tool.description,
                parameters=tool.schema(),
                requires_approval=tool.requires_approval,
            )
            for tool in sorted(self._tools.values(), key=lambda tool: tool.name)
        ]

    def describe(self) -> list[dict[str, Any]]:
        """Every tool as ``{name, description, parameters}``, for a planner choosing tools."""
        return [
            {"name": tool.name, "description": tool.description, "parameters": tool.schema()}
            for tool in sorted(self._tools.values(), key=lambda tool: tool.name)
        ]
