"""The gateway's hot-path counting: event frames counted, lag read from the event's timestamp."""

from __future__ import annotations

import asyncio
import time

from services.ws_gateway.framing import with_seq
from services.ws_gateway.metrics import LAG_SAMPLE_EVERY, GatewayMetrics, _timestamp
from shared.wire.events import (
    ToolCompleted,
    ToolCompletedData,
    encode_event,
)


def _event(result: object = None) -> bytes:
    data = ToolCompletedData(tool_call_id="c", tool_name="t", result=result)
    return encode_event(ToolCompleted(run_id="r", thread_id="t", data=data))


def test_only_event_frames_count_as_delivered() -> None:
    metrics = GatewayMetrics()
    frames = [with_seq(7, _event()), b'{"type":"pong"}', with_seq(8, _event())]
    metrics.count_delivered(frames)
    assert metrics.events_delivered.value == 2


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
