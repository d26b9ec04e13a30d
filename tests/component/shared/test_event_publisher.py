"""The delivery path's first hop against a real nats-server: store, then republish with seq."""

import asyncio
import uuid

import nats
import pytest

from shared import subjects
from shared.bus import EventPublisher, ensure_events_stream
from shared.errors import EventTooLarge
from shared.settings import NatsSettings
from shared.wire import events


def _thinking(n: int) -> events.AgentThinking:
    return events.AgentThinking(
        run_id="r1",
        thread_id="t1",
        data=events.AgentThinkingData(agent_id="a", thought=f"step {n}", step=n),
    )


async def test_published_events_are_stored_and_republished_with_their_sequence(
    nc: nats.aio.client.Client,
) -> None:
    js = nc.jetstream()
    await ensure_events_stream(js, NatsSettings())
    await ensure_events_stream(js, NatsSettings())  # idempotent: a second service starting
    user = uuid.uuid4().hex
    received: list[nats.aio.msg.Msg] = []

    async def collect(msg: nats.aio.msg.Msg) -> None:
        received.append(msg)

    sub = await nc.subscribe(subjects.live_user_events(user), cb=collect)
    publisher = EventPublisher(js)

    seqs = [await publisher.publish(user, _thinking(n)) for n in range(3)]

    for _ in range(100):
        if len(received) == 3:
            break
        await asyncio.sleep(0.01)
    await sub.unsubscribe()
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert [int(m.headers["Nats-Sequence"]) for m in received] == seqs
    # Each event names the previous event of the same user: the gateway's gap detector.
    assert [int(m.headers["Nats-Last-Sequence"]) for m in received[1:]] == seqs[:-1]
    assert [events.decode_event(m.data).data.thought for m in received] == [
        "step 0",
        "step 1",
        "step 2",
    ]


async def test_an_event_over_the_servers_limit_is_refused_at_once_and_nothing_is_stored(
    nc: nats.aio.client.Client,
) -> None:
    js = nc.jetstream()
    await ensure_events_stream(js, NatsSettings())
    user = uuid.uuid4().hex
    publisher = EventPublisher(js, max_payload=nc.max_payload)
    huge = events.AgentCompleted(
        run_id="r1",
        thread_id="t1",
        data=events.AgentCompletedData(agent_id="a", result="x" * nc.max_payload),
    )

    with pytest.raises(EventTooLarge, match="agent_completed event of"):
        await publisher.publish(user, huge)
    await publisher.publish(user, _thinking(1))  # the same publisher goes on

    info = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=subjects.user_events(user))
    assert info.state.subjects == {subjects.user_events(user): 1}
