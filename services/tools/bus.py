"""The tool runner's NATS edge: tool calls in, replies out, each call in its own task.

Calls arrive on ``tools.call.<name>``, one subscription per tool this runner has (a runner
never takes a call for a tool it lacks: another runner may have it), in queue group ``tools``,
so every runner with the tool shares the load. Tools come and go while the runner lives (an MCP
server connects or goes away): :meth:`ToolCallSubscription.offer` and
:meth:`~ToolCallSubscription.withdraw` follow them. A call waits for one of ``TOOL_CONCURRENCY``
slots before its task starts; while all slots are busy further calls stay queued in their
subscription rather than piling up as tasks.

``tools.catalog`` is answered by every runner (no queue group) with the tools it has now.

Cancels arrive on ``tools.control.cancel.*`` with no queue group: every runner hears every
cancel, and only the one holding the call answers, once the call has ended. Heartbeats go out on
``tools.heartbeat.<tool_call_id>`` from the moment a call is taken until its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.tools.infra import DeferredInfra, KvInfra
from services.tools.mcp_servers import McpServers, is_mcp_tool
from services.tools.observe import observed_call
from services.tools.registry import Registry, UnknownTool
from services.tools.runner import Heartbeat, ToolRunner
from services.tools.settings import ToolsSettings
from shared import subjects
from shared.bus import EventPublisher, connect, ensure_events_stream, until_subscribed
from shared.errors import ErrorCode
from shared.settings import SettingsError
from shared.wire.tools import (
    ToolCallFailed,
    ToolCallReply,
    ToolCatalog,
    decode_tool_call,
    encode,
)

__all__ = ["ToolCallSubscription", "ToolRunnerNode", "handle_tool_call", "max_result_bytes"]

log = logging.getLogger(__name__)


async def handle_tool_call(runner: ToolRunner, msg: Msg) -> None:
    """Decode the call, run it, reply."""
    try:
        request = decode_tool_call(msg.data)
    except msgspec.DecodeError as exc:
        reply: ToolCallReply = ToolCallFailed(
            code=ErrorCode.INVALID_REQUEST, message=f"malformed tool call: {exc}"
        )
    else:
        reply = await observed_call(runner, request, msg.headers)  # counted, traced
    if msg.reply:  # a bare publish asked for no answer
        await msg.respond(encode(reply))


# A result travels twice, in tool_completed and in the reply, each inside an envelope that also
# holds its parameters: what the bus carries, less room for the rest.
_ENVELOPE_BYTES = 16 * 1024


def max_result_bytes(max_payload: int) -> int:
    return max(1024, max_payload - _ENVELOPE_BYTES)


class ToolCallSubscription:
    def __init__(
        self, nc: NATS, runner: ToolRunner, registry: Registry, *, concurrency: int
    ) -> None:
        self._nc = nc
        self._runner = runner
        self._registry = registry
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._cancels: set[asyncio.Task[None]] = set()
        self._subs: dict[str, Subscription] = {}  # tool name -> its calls
        self._taking = False
        self._cancel_sub: Subscription | None = None
        self._catalog_sub: Subscription | None = None

    async def start(self) -> None:
        # Cancels first: a runner taking calls must already hear them being cancelled.
        self._cancel_sub = await self._nc.subscribe(
            subjects.tool_control_cancel_wildcard(), cb=self._on_cancel
        )
        self._taking = True
        for name in self._registry.names():
            await self._subscribe(name)
        self._catalog_sub = await self._nc.subscribe(subjects.tool_catalog(), cb=self._on_catalog)
        await until_subscribed(self._nc)  # "ready" must mean the server already routes calls here

    async def offer(self, name: str) -> None:
        """Take calls for ``name`` (a tool just registered), once the server routes them here."""
        if self._taking and name not in self._subs:
            await self._subscribe(name)
            await until_subscribed(self._nc)

    async def withdraw(self, name: str) -> None:
        """Take no more calls for ``name``; the ones already received still run and reply."""
        sub = self._subs.pop(name, None)
        if sub is not None:
            await sub.drain()

    async def _subscribe(self, name: str) -> None:
        self._subs[name] = await self._nc.subscribe(
            subjects.tool_call(name), queue=subjects.TOOLS_QUEUE, cb=self._on_message
        )

    async def stop(self) -> None:
        """Take no new calls; let the ones already received finish and reply."""
        self._taking = False
        if self._catalog_sub is not None:  # a runner on its way out offers no tools
            sub, self._catalog_sub = self._catalog_sub, None
            await _unsubscribe(sub)
        subs, self._subs = list(self._subs.values()), {}
        # Each returns once every queued call has been handed a slot.
        await asyncio.gather(*(sub.drain() for sub in subs))
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
        if self._cancel_sub is not None:  # kept until now: calls in flight stay cancellable
            sub, self._cancel_sub = self._cancel_sub, None
            await sub.unsubscribe()
        if self._cancels:
            await asyncio.wait(set(self._cancels))

    async def _on_catalog(self, msg: Msg) -> None:
        if msg.reply:
            catalog = ToolCatalog(tools=self._registry.specs())
            try:
                await msg.respond(encode(catalog))
            except Exception:
                log.exception("the tool catalog was not answered")

    async def _on_cancel(self, msg: Msg) -> None:
        # A task per cancel: waiting for one call to end must not hold up the next cancel.
        task = asyncio.create_task(self._cancel(msg))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def _cancel(self, msg: Msg) -> None:
        tool_call_id = msg.subject.rsplit(".", 1)[-1]
        try:
            if await self._runner.cancel(tool_call_id) and msg.reply:
                await msg.respond(b"")
        except Exception:
            log.exception("cancel of tool call %s was not answered", tool_call_id)

    async def _on_message(self, msg: Msg) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(msg))
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    async def _handle(self, msg: Msg) -> None:
        try:
            await handle_tool_call(self._runner, msg)
        except Exception:  # a task's exception would otherwise surface only at shutdown
            log.exception("tool call on %s was not answered", msg.subject)


class ToolRunnerNode:
    """One tool runner process's NATS life: connect, ensure the stream, take calls, stop."""

    def __init__(
        self, settings: ToolsSettings, registry: Registry, infra: DeferredInfra | None = None
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._infra = infra
        self._nc: NATS | None = None
        self._calls: ToolCallSubscription | None = None
        self._mcp: McpServers | None = None

    async def start(self) -> None:
        self._apply_limits()
        nc = await connect(self._settings.nats, name="agentwire-tools")
        try:
            js = nc.jetstream()
            await ensure_events_stream(js, self._settings.nats)
            if self._infra is not None:  # before any call can arrive
                replicas = self._settings.nats.events_replicas
                self._infra.bind(await KvInfra.open(js, replicas=replicas))
            runner = ToolRunner(
                self._registry,
                EventPublisher(js, max_payload=nc.max_payload),
                timeout_s=self._settings.tool_timeout_s,
                heartbeat=_heartbeat(nc),
                heartbeat_interval_s=self._settings.heartbeat_interval_s,
                max_result_bytes=max_result_bytes(nc.max_payload),
                progress_interval_s=self._settings.progress_flush_ms / 1000,
            )
            calls = ToolCallSubscription(
                nc, runner, self._registry, concurrency=self._settings.tool_concurrency
            )
            await calls.start()
            mcp = await self._start_mcp(calls)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._calls, self._mcp = nc, calls, mcp
        log.info("taking calls for %s", ", ".join(self._registry.names()))

    async def _start_mcp(self, calls: ToolCallSubscription) -> McpServers | None:
        """Connect to the MCP servers; their tools are offered as each connects (ready waits
        for every server's first try, so a server up at start is in the first catalog)."""
        settings = self._settings
        if not settings.mcp_servers:
            return None
        mcp = McpServers(
            settings.mcp_servers,
            self._registry,
            offer=calls.offer,
            withdraw=calls.withdraw,
            timeouts=settings.timeout_overrides,
            connect_timeout_s=settings.mcp_connect_timeout_s,
            probe_interval_s=settings.mcp_probe_interval_s,
        )
        try:
            await mcp.start()
        except BaseException:
            await mcp.stop()
            raise
        return mcp

    @property
    def nc(self) -> NATS | None:
        """The connection, once started (the operator surface reads it)."""
        return self._nc

    def _apply_limits(self) -> None:
        settings = self._settings
        timeouts = {  # an MCP server's tools get theirs as they are registered
            name: seconds
            for name, seconds in settings.timeout_overrides.items()
            if not is_mcp_tool(name, settings.mcp_servers)
        }
        for variable, limits in (
            ("TOOL_TIMEOUT_OVERRIDES", {"timeouts": timeouts}),
            ("TOOL_CONCURRENCY_OVERRIDES", {"concurrency": settings.concurrency_overrides}),
        ):
            try:
                self._registry.limit(**limits)
            except UnknownTool as exc:
                raise SettingsError(f"environment variable {variable}: {exc.message}") from None

    async def stop(self) -> None:
        """Finish the calls in flight (their events and replies need the connection), then close."""
        if self._calls is not None:
            await self._calls.stop()
            self._calls = None
        if self._mcp is not None:  # after the calls: they need their servers to the end
            mcp, self._mcp = self._mcp, None
            await mcp.stop()
        if self._nc is not None:
            nc, self._nc = self._nc, None
            await nc.drain()


async def _unsubscribe(sub: Subscription) -> None:
    with contextlib.suppress(Exception):  # a closing connection takes its subscriptions along
        await sub.unsubscribe()


def _heartbeat(nc: NATS) -> Heartbeat:
    async def beat(tool_call_id: str, payload: bytes) -> None:
        await nc.publish(subjects.tool_heartbeat(tool_call_id), payload)

    return beat
