"""One MCP server, kept connected: its tools listed, calls made, reconnected with backoff.

The link's own task owns the SDK's :class:`mcp.Client` (its anyio task groups must be entered
and left by one task); calls from the runner's tasks go through it. Its life::

    connect + list tools (within connect_timeout_s) ──fail──> down: wait, then try again
       │                                                        (backoff 0.5 s doubling to
    up: tools registered (on_up)                                 backoff_max_s)
       │  every probe_interval_s: list the tools again (a changed list is registered again)
       │  a probe failing, a call finding the connection closed, the transport failing,
       │  the process exiting
    down: tools withdrawn (on_down), in-flight calls end tool_unavailable

A down server's tools are in no catalog and no runner subscribes to them, so a caller hears
"no tool runner is serving <tool>" rather than a call that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
import pydantic
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, Tool

from services.tools.mcp_servers.config import McpServerConfig
from services.tools.mcp_servers.results import error_of, failure_of, result_of
from services.tools.registry import Progress, ToolFailed
from shared.errors import ErrorCode

__all__ = [
    "DEFAULT_BACKOFF_MAX_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_PROBE_INTERVAL_S",
    "McpLink",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_PROBE_INTERVAL_S = 5.0
DEFAULT_BACKOFF_MAX_S = 30.0
_BACKOFF_START_S = 0.5
_STOP_WAIT_S = 15.0  # the SDK's own process shutdown is bounded well inside this
_MAX_PAGES = 100  # a server whose tool list never ends cannot hold the link up
# The SDK's own HTTP client's limits: a server may hold a response stream open for long.
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)

# What a transport raises under a call when the server has gone.
_CLOSED = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream)

OnUp = Callable[["McpLink", list[Tool]], Awaitable[None]]
OnDown = Callable[["McpLink"], Awaitable[None]]


class _Lost(Exception):
    """The connection is gone (a call or the probe found it so)."""


class McpLink:
    def __init__(
        self,
        config: McpServerConfig,
        *,
        on_up: OnUp,
        on_down: OnDown,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        probe_interval_s: float = DEFAULT_PROBE_INTERVAL_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
    ) -> None:
        self.config = config
        self._on_up = on_up
        self._on_down = on_down
        self._connect_timeout_s = connect_timeout_s
        self._probe_interval_s = probe_interval_s
        self._backoff_max_s = backoff_max_s
        self._client: Client | None = None
        self._lost = asyncio.Event()
        self._tried = asyncio.Event()  # the first attempt ended, up or not
        self._task: asyncio.Task[None] | None = None
        self._was_up = False
        self._stopping = False
        self.last_error = "not connected yet"

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def up(self) -> bool:
        return self._client is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_connected(), name=f"mcp server {self.name}")

    async def first_attempt(self, timeout_s: float) -> None:
        """Return once the first connection attempt has ended (or after ``timeout_s``)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._tried.wait()

    async def stop(self) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        # The flag as well as the cancel: a cancel landing while the SDK's task group is failing
        # (the server refusing a connection) can be swallowed into the group's error, and the
        # loop must still end. One cancel only while the SDK closes the server's process under
        # a shield (terminate, wait, kill: seconds at most); another one would cut that short.
        self._stopping = True
        task.cancel()
        while not task.done():
            await asyncio.wait({task}, timeout=_STOP_WAIT_S)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            task.result()

    async def call(self, tool: str, arguments: dict[str, Any], *, progress: Progress) -> Any:
        """Call ``tool`` on the server; its result, or ToolFailed with the code it earned."""
        client = self._client
        shown = f"{self.name}__{tool}"
        if client is None:
            message = f"{shown}: the MCP server {self.name!r} is not connected ({self.last_error})"
            raise ToolFailed(message, ErrorCode.TOOL_UNAVAILABLE)

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            if total:
                progress(done / total, message)
            else:  # MCP's progress need not have a total: say how far, in its own units
                progress(None, message or f"{done:g} done")

        try:
            result = await client.call_tool(tool, arguments, progress_callback=on_progress)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self._lose(f"connection closed during a call to {tool}")
            raise failure_of(shown, self.name, exc) from None
        except pydantic.ValidationError:
            message = f"{shown}: the MCP server {self.name!r} sent a result that is not MCP's"
            raise ToolFailed(message) from None
        except (OSError, httpx2.HTTPError, *_CLOSED) as exc:
            self._lose(f"{type(exc).__name__} during a call to {tool}")
            message = f"{shown}: the MCP server {self.name!r} went away ({type(exc).__name__})"
            raise ToolFailed(message, ErrorCode.TOOL_UNAVAILABLE) from None
        if result.is_error:
            raise error_of(shown, result)
        return result_of(result)

    def _lose(self, reason: str) -> None:
        self.last_error = reason
        self._lost.set()

    async def _keep_connected(self) -> None:
        delay = _BACKOFF_START_S
        while not self._stopping:
            self._was_up = False
            try:
                await self._session()
            except Exception as exc:  # an ExceptionGroup from the SDK's task groups, too
                if not isinstance(exc, _Lost):
                    self.last_error = _reason(exc)
            await self._down()  # if the transport failed before _session could say so
            self._tried.set()
            if self._stopping:
                return
            if self._was_up:
                delay = _BACKOFF_START_S
            log.warning(
                "MCP server %s (%s) is unavailable: %s; next attempt in %.1fs",
                self.name,
                self.config.describe(),
                self.last_error,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max_s)

    async def _session(self) -> None:
        self._lost.clear()
        async with contextlib.AsyncExitStack() as stack:
            async with asyncio.timeout(self._connect_timeout_s):
                client = await stack.enter_async_context(self._client_for(stack))
                tools = await _listed(client)
            self._client, self._was_up = client, True
            log.info("MCP server %s: connected, %d tools", self.name, len(tools))
            await self._on_up(self, tools)
            self._tried.set()
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._probe_interval_s):
                        await self._lost.wait()
                if self._lost.is_set():
                    # Withdrawn before the client is torn down (a process may take a while to
                    # be reaped): callers learn at once that the tools are gone.
                    await self._down()
                    raise _Lost(self.last_error)
                async with asyncio.timeout(self._connect_timeout_s):
                    fresh = await _listed(client)
                if _changed(tools, fresh):
                    log.info("MCP server %s: its tools changed", self.name)
                    tools = fresh
                    await self._on_up(self, tools)

    async def _down(self) -> None:
        if self._client is not None:
            self._client = None
            try:
                await self._on_down(self)
            except Exception:  # NATS away: the link must live on to reconnect all the same
                log.exception("MCP server %s: its tools were not all withdrawn", self.name)

    def _client_for(self, stack: contextlib.AsyncExitStack) -> Client:
        config = self.config
        if config.url is None:
            program, *args = config.command
            params = StdioServerParameters(
                command=program, args=args, env=config.env or None, cwd=config.cwd
            )
            return Client(params)
        if not config.headers:
            return Client(config.url)  # the SDK makes (and closes) its own HTTP client
        # httpx2 is the client type the SDK's transport takes (mcp depends on it).
        http = httpx2.AsyncClient(headers=config.headers, timeout=_HTTP_TIMEOUT)
        stack.push_async_callback(http.aclose)  # ours to close, after the client is done
        return Client(streamable_http_client(config.url, http_client=http))


async def _listed(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await client.list_tools(cursor=cursor, cache_mode="refresh")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _changed(before: list[Tool], after: list[Tool]) -> bool:
    def shape(tools: list[Tool]) -> list[tuple[str, str | None, str]]:
        return [(t.name, t.description, repr(t.input_schema)) for t in tools]

    return shape(before) != shape(after)


def _reason(exc: BaseException) -> str:
    """One line for the log and for a caller: the innermost cause, not a traceback."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
