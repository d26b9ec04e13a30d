"""The gateway's hot-path counting: event frames counted, lag read from the event's timestamp."""

from __future__ import annotations

import asyncio
import time

from services.ws_gateway.metrics import GATEWAY, LAG_SAMPLE_EVERY, GatewayMetrics, _timestamp
from services.ws_gateway.session import Session
from services.ws_gateway.transport import Connection
from shared.wire.events import (
    ToolCompleted,
    ToolCompletedData,
    encode_event,
)
from tests.unit.ws_gateway.fakes import FakeBackend, MemorySocket, thinking


def _event(result: object = None) -> bytes:
    data = ToolCompletedData(tool_call_id="c", tool_name="t", result=result)
    return encode_event(ToolCompleted(run_id="r", thread_id="t", data=data))


async def test_only_event_frames_written_count_as_delivered() -> None:
    socket = MemorySocket()
    conn = Connection(Session("alice"), socket, FakeBackend())
    conn.session.baseline(0)
    before = GATEWAY.events_delivered.value
    conn.deliver(1, thinking("one"), 0)
    conn.execute(conn.session.receive('{"type": "ping"}'))
    conn.deliver(2, thinking("two"), 1)
    async with asyncio.timeout(5):
        while len(socket.sent) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    assert GATEWAY.events_delivered.value - before == 2


def test_the_lag_is_read_from_the_events_own_timestamp_not_its_result() -> None:
    payload = _event({"timestamp": 1.0, "nested": {"timestamp": 2.0}})
    assert abs(_timestamp(payload) - time.time()) < 5  # type: ignore[operator]


async def test_a_sample_is_measured_after_the_loop_turns_writes() -> None:
    metrics = GatewayMetrics()
    metrics.until_sample = 0
    metrics.sample_lag(_event())
    assert metrics.until_sample == LAG_SAMPLE_EVERY
    assert metrics.delivery_lag.count() == 0  # not yet: call_soon, after the flusher
    await asyncio.sleep(0)
    assert metrics.delivery_lag.count() == 1


def test_metrics_off_never_samples() -> None:
    metrics = GatewayMetrics()
    metrics.enable(False)
    assert not metrics.enabled and metrics.until_sample > 10**15
