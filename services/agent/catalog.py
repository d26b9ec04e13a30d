"""Which tools the tool runners offer: one request, every runner's answer, merged and cached.

Runners may differ (one has the MCP servers, another only the built-in tools), and a NATS
request keeps only the first answer, so :meth:`ToolCatalog.tools` publishes one empty message
to ``tools.catalog`` with a reply inbox of its own and gathers what comes back: it waits up to
``wait_s`` for the first answer, then ``window_s`` more for the rest (or until ``expected``
runners have answered). Runners on one NATS answer within milliseconds of each other, so the
window costs little and is paid once per ``ttl_s``, for which the merged list is kept. A tool
offered by several runners is listed once (the first answer's description wins).

An empty list is never cached: no runner answered yet (they may be starting), so the next
caller asks again.

    catalog = ToolCatalog(nc)
    for spec in await catalog.tools():   # list[shared.wire.tools.ToolSpec], sorted by name
        print(spec.name, spec.parameters)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from shared import subjects
from shared.wire.tools import ToolSpec, decode_tool_catalog

__all__ = [
    "DEFAULT_TTL_S",
    "DEFAULT_WAIT_S",
    "DEFAULT_WINDOW_S",
    "ToolCatalog",
    "gather_tools",
]

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 5.0  # a tool runner that starts or an MCP server that connects shows within this
DEFAULT_WAIT_S = 1.0  # for the first answer: no answer by then, no runner is up
DEFAULT_WINDOW_S = 0.15  # after the first answer, for the other runners'
_NO_RESPONDERS = "503"


class ToolCatalog:
    """The tool runners' tools, as an LLM agent offers them to its model."""

    def __init__(
        self,
        nc: NATS,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        wait_s: float = DEFAULT_WAIT_S,
        window_s: float = DEFAULT_WINDOW_S,
        expected: int | None = None,
    ) -> None:
        self._nc = nc
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._window_s = window_s
        self._expected = expected
        self._cached: list[ToolSpec] = []
        self._until = 0.0
        self._asking: asyncio.Future[list[ToolSpec]] | None = None  # one request for all callers

    async def tools(self) -> list[ToolSpec]:
        """Every tool some runner offers, sorted by name (cached for ``ttl_s``)."""
        if self._cached and time.monotonic() < self._until:
            return self._cached
        if self._asking is None:
            self._asking = asyncio.ensure_future(self._refresh())
            self._asking.add_done_callback(self._asked)
        return await asyncio.shield(self._asking)  # one caller cancelled leaves the others' ask

    def forget(self) -> None:
        """Ask the runners again next time (a call found a tool gone, say)."""
        self._until = 0.0

    async def _refresh(self) -> list[ToolSpec]:
        tools = await gather_tools(
            self._nc, wait_s=self._wait_s, window_s=self._window_s, expected=self._expected
        )
        if tools:
            self._cached, self._until = tools, time.monotonic() + self._ttl_s
        return tools

    def _asked(self, asking: asyncio.Future[list[ToolSpec]]) -> None:
        self._asking = None
        if not asking.cancelled():
            asking.exception()  # retrieved: a caller that awaited it already got it


async def gather_tools(
    nc: NATS,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    window_s: float = DEFAULT_WINDOW_S,
    expected: int | None = None,
) -> list[ToolSpec]:
    """Ask every tool runner once and merge the answers (no cache)."""
    inbox = nc.new_inbox()
    answers: asyncio.Queue[Msg] = asyncio.Queue()
    sub = await nc.subscribe(inbox, cb=answers.put)
    try:
        await nc.publish(subjects.tool_catalog(), b"", reply=inbox)
        return _merged(await _collect(answers, wait_s, window_s, expected))
    finally:
        with contextlib.suppress(Exception):  # a closing connection takes it along
            await sub.unsubscribe()


async def _collect(
    answers: asyncio.Queue[Msg], wait_s: float, window_s: float, expected: int | None
) -> list[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    payloads: list[bytes] = []
    while expected is None or len(payloads) < expected:
        try:
            async with asyncio.timeout_at(deadline):
                msg = await answers.get()
        except TimeoutError:
            break
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            break  # nats-server's word that no runner listens
        if not payloads:
            deadline = loop.time() + window_s
        payloads.append(msg.data)
    return payloads


def _merged(payloads: list[bytes]) -> list[ToolSpec]:
    tools: dict[str, ToolSpec] = {}
    for payload in payloads:
        try:
            catalog = decode_tool_catalog(payload)
        except msgspec.DecodeError as exc:
            log.warning("an unreadable tool catalog was skipped: %s", exc)
            continue
        for spec in catalog.tools:
            tools.setdefault(spec.name, spec)
    return sorted(tools.values(), key=lambda spec: spec.name)
