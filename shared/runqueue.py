"""The RUNS work queue: chat messages stored by the gateways, taken by the agents.

    gateway  --js.publish agent.intake.<user>.<thread>.<run> (Nats-Msg-Id = run id)--> RUNS
    RUNS     --one durable pull consumer "agents", fetched only by a process with a free slot-->
    agent    records the run in its database, then acks: the stream forgets the message

Work-queue retention keeps a message until an agent acknowledges it; an agent that dies first
leaves it unacknowledged, and JetStream hands it to another after ``ack_wait``. The stream never
drops a stored message on its own (no age limit): past ``max_msgs`` it refuses new ones instead,
and the gateway tells the user that nothing was stored.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from shared import subjects
from shared.bus import ensure_stream
from shared.settings import NatsSettings

__all__ = [
    "DEDUPE_WINDOW_S",
    "MAX_WAITING_RUNS",
    "agents_consumer_config",
    "ensure_runs_stream",
    "runs_stream_config",
]

# A resent message (same client_msg_id, so the same run id) within this window is dropped by the
# stream itself; after it, the agents' database still refuses a second run with that id.
DEDUPE_WINDOW_S = 600.0
MAX_WAITING_RUNS = 1_000_000


def runs_stream_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=subjects.RUNS_STREAM,
        subjects=[subjects.run_intake_wildcard()],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_msgs=MAX_WAITING_RUNS,
        discard=DiscardPolicy.NEW,
        duplicate_window=DEDUPE_WINDOW_S,
        num_replicas=settings.events_replicas,
        allow_direct=True,  # a cancel looks a waiting run up by its subject
    )


def agents_consumer_config(*, ack_wait_s: float, max_deliver: int) -> ConsumerConfig:
    return ConsumerConfig(
        name=subjects.AGENTS_CONSUMER,
        durable_name=subjects.AGENTS_CONSUMER,
        filter_subject=subjects.run_intake_wildcard(),
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=max_deliver,
        max_ack_pending=-1,  # each agent bounds itself by its free slots
    )


async def ensure_runs_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create the RUNS stream, or bring it to this configuration. Idempotent."""
    await ensure_stream(js, runs_stream_config(settings))
