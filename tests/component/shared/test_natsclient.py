"""The raw subscription against a real nats-server: bytes in order, headers readable.

Its life across a reconnect is tested where the gateway relies on it
(tests/component/ws_gateway/test_repair.py, LIVE_SUBSCRIPTION=all).
"""

from __future__ import annotations

import asyncio
import uuid

from shared import bus, subjects
from shared.bus import EventPublisher, ensure_events_stream
from shared.natsclient import header
from shared.settings import NatsSettings
from shared.wire import events


def _thinking(n: int) -> events.AgentThinking:
    return events.AgentThinking(
        run_id="r1",
        thread_id="t1",
        data=events.AgentThinkingData(agent_id="a", thought=f"step {n}", step=n),
    )


async def _until(predicate, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_raw_subscription_gets_every_republished_event_with_its_sequences(
    nats_url: str,
) -> None:
    settings = NatsSettings(url=nats_url)
    nc = await bus.connect(settings, "test-raw")
    try:
        js = nc.jetstream()
        await ensure_events_stream(js, settings)
        user = uuid.uuid4().hex
        got: list[tuple[bytes, bytes, bytes | None]] = []
        sub = await nc.subscribe_raw(subjects.live_user_events(user), lambda *m: got.append(m))
        await bus.until_subscribed(nc)

        stored = [await EventPublisher(js).publish(user, _thinking(n)) for n in range(3)]
        await _until(lambda: len(got) == 3)
        await sub.unsubscribe()
        forgotten = not nc._raw_handlers  # a gateway subscribes per user: no leak per user
        await EventPublisher(js).publish(user, _thinking(3))
        await asyncio.sleep(0.2)
    finally:
        await nc.close()

    assert [subject for subject, _, _ in got] == [subjects.live_user_events(user).encode()] * 3
    assert [events.decode_event(data).data.thought for _, data, _ in got] == [  # type: ignore[union-attr]
        "step 0",
        "step 1",
        "step 2",
    ]
    assert [int(header(h, b"Nats-Sequence") or 0) for _, _, h in got] == stored
    assert [int(header(h, b"Nats-Last-Sequence") or 0) for _, _, h in got] == [0, *stored[:2]]
    assert len(got) == 3  # nothing after unsubscribe
    assert forgotten
