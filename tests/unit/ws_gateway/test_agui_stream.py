"""The bytes of an AG-UI stream: SSE framing, keep-alives on a quiet stream, and where it ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.ws_gateway import sse
from services.ws_gateway.agui_projection import Cursor, Delivery, Projection
from services.ws_gateway.agui_runs import AguiRuns, Opened
from shared.wire import events as e

RUN, THREAD = "run-1", "thread-1"


class QuietLog:
    """A run log whose events arrive when the test says; waits are short."""

    def __init__(self) -> None:
        self.stored: list[tuple[int, Any]] = []
        self.opened = self.closed = False

    async def open(self) -> None:
        self.opened = True

    async def read(self) -> list[tuple[int, Any]]:
        found, self.stored = self.stored, []
        return found

    async def wait(self, timeout_s: float) -> None:
        await asyncio.sleep(min(timeout_s, 0.01))

    async def close(self) -> None:
        self.closed = True


def opened(log: QuietLog) -> Opened:
    projection = Projection(THREAD, RUN, RUN)
    return Opened([projection.started(0)], Delivery(projection, Cursor(0)), log)  # type: ignore[arg-type]


def cancelled(seq: int) -> tuple[int, Any]:
    data = e.AgentCancelledData(agent_id="a")
    return seq, e.AgentCancelled(run_id=RUN, thread_id=THREAD, data=data)


def test_an_event_is_one_data_line_with_its_id() -> None:
    assert sse.event(b'{"a":1}', "42.1") == b'id: 42.1\ndata: {"a":1}\n\n'
    assert sse.event(b"{}") == b"data: {}\n\n"
    assert sse.comment("keep-alive") == b": keep-alive\n\n"


def test_data_with_a_line_break_is_refused() -> None:
    with pytest.raises(ValueError):
        sse.event(b"{\n}")


async def test_a_quiet_stream_gets_keep_alives_and_ends_with_its_run() -> None:
    log = QuietLog()
    stream = AguiRuns.follow(None, opened(log), keepalive_s=0.05)  # type: ignore[arg-type]
    chunks = [await anext(stream)]
    assert chunks[0].startswith(b"id: 0\ndata: {") and b'"RUN_STARTED"' in chunks[0]
    chunks.append(await anext(stream))
    assert chunks[-1] == b": keep-alive\n\n"
    log.stored.append(cancelled(7))
    chunks += [chunk async for chunk in stream]
    assert chunks[-1].startswith(b"id: 7\ndata: {") and b'"cancelled"' in chunks[-1]
    assert log.opened and log.closed


async def test_a_stream_never_begun_holds_no_subscription() -> None:
    log = QuietLog()
    stream = AguiRuns.follow(None, opened(log), keepalive_s=10)  # type: ignore[arg-type]
    await stream.aclose()
    assert not log.opened


async def test_a_client_that_leaves_only_closes_its_reader() -> None:
    log = QuietLog()
    stream = AguiRuns.follow(None, opened(log), keepalive_s=10)  # type: ignore[arg-type]
    await anext(stream)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert log.closed
