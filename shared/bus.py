"""The NATS connection, the EVENTS stream, and the event publisher every producer uses.

Delivery path: a producer publishes an event to ``user.<id>.events`` through JetStream and waits
for the ack, so the event is stored before the producer moves on. The stream republishes each
stored message to ``live.user.<id>.events`` with headers ``Nats-Sequence`` (the event's ``seq``)
and ``Nats-Last-Sequence`` (the previous ``seq`` of the same user, which lets a reader detect a
missed event). Gateways subscribe to the live subjects (see services/ws_gateway/hub.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import RePublish, StorageType, StreamConfig
from nats.js.errors import NoStreamResponseError

from shared import subjects, tracing
from shared.errors import EventTooLarge, PublishFailed
from shared.natsclient import Client
from shared.settings import NatsSettings
from shared.wire.events import AnyEvent, encode_event

__all__ = [
    "EventPublisher",
    "connect",
    "ensure_events_stream",
    "ensure_stream",
    "events_stream_config",
    "request",
    "revocations_stream_config",
    "store",
    "until_subscribed",
]

log = logging.getLogger(__name__)

_HEADROOM_BYTES = 1024  # for the headers and subject that travel with an event
# What a retry may get past: NATS away or reconnecting, JetStream electing a leader.
_PASSING = (
    NatsTimeout,
    NoRespondersError,
    NoStreamResponseError,
    ConnectionError,
    nats.js.errors.ServiceUnavailableError,
)


async def connect(
    settings: NatsSettings,
    name: str,
    *,
    on_reconnected: Callable[[], Awaitable[None]] | None = None,
) -> Client:
    """Connect and stay connected: reconnect for ever, with the callbacks logging each change.

    ``on_reconnected`` runs after each reconnect (after the log line). nats-py awaits it inside
    its reconnect, so it must not block: start work, do not wait for it.
    """

    async def on_disconnected() -> None:
        log.info("nats disconnected")

    async def reconnected() -> None:
        log.info("nats reconnected")
        if on_reconnected is not None:
            await on_reconnected()

    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    # max_reconnect_attempts=-1 also makes nats-py retry the first connect until the server is
    # up, so services may start before NATS does.
    nc = Client()
    await nc.connect(
        [url.strip() for url in settings.url.split(",")],  # a cluster: several URLs
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        allow_reconnect=True,
        disconnected_cb=on_disconnected,
        reconnected_cb=reconnected,
        error_cb=on_error,
        user=settings.user,
        password=settings.password,
    )
    return nc


async def until_subscribed(nc: NATS) -> None:
    """Return once the server holds every subscription made so far on ``nc``.

    nats-py 2.16's ``flush()`` writes its PING straight to the socket, ahead of commands still
    queued for its flusher task, such as a new SUB: one PONG proves nothing. The first round trip
    lets the flusher write the SUB; the second PING follows it, so its PONG does.
    """
    await nc.flush()
    await nc.flush()


async def request(
    nc: NATS,
    subject: str,
    payload: bytes,
    *,
    timeout_s: float,
    no_responders_grace_s: float = 0.5,
    headers: dict[str, str] | None = None,
) -> Msg:
    """A NATS request that rides out a responder's brief absence (a restart, a re-subscribe).

    "No responders" is retried with a short backoff for ``no_responders_grace_s``; after that it
    is raised, so a caller can say plainly that nobody is serving ``subject``.
    """
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + no_responders_grace_s
    delay = 0.02
    while True:
        try:
            return await nc.request(subject, payload, timeout=timeout_s, headers=headers)
        except NoRespondersError:
            if loop.time() + delay > give_up_at:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)


def events_stream_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.user_events_wildcard()],
        storage=StorageType.FILE,
        max_age=settings.events_max_age_s,
        max_msgs_per_subject=settings.events_max_per_user,
        num_replicas=settings.events_replicas,
        duplicate_window=120.0,
        allow_direct=True,
        republish=RePublish(
            src=subjects.user_events_wildcard(), dest=subjects.live_user_events_wildcard()
        ),
    )


def revocations_stream_config(settings: NatsSettings, keep_s: float) -> StreamConfig:
    """Every revocation the auth service publishes, kept ``keep_s`` (one access-token lifetime
    and leeway: after that, every token it could cover has expired), so that a gateway that
    starts, or comes back from a NATS outage, learns what it missed."""
    return StreamConfig(
        name=subjects.REVOCATIONS_STREAM,
        subjects=[subjects.auth_revoked_wildcard()],
        storage=StorageType.FILE,
        max_age=keep_s,
        num_replicas=settings.events_replicas,
        allow_direct=True,
    )


async def ensure_events_stream(
    js: JetStreamContext, settings: NatsSettings, *, ready_within_s: float = 60.0
) -> None:
    """Create the EVENTS stream, or bring an existing one to this configuration. Idempotent."""
    await ensure_stream(js, events_stream_config(settings), ready_within_s=ready_within_s)


async def ensure_stream(
    js: JetStreamContext, config: StreamConfig, *, ready_within_s: float = 60.0
) -> None:
    """Create a stream, or bring an existing one to ``config``. Idempotent.

    A cluster's JetStream answers "unavailable" (or not at all) until its nodes have elected a
    meta leader, which takes a few seconds after they start; keep asking until then.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_within_s
    while True:
        try:
            await _create_or_update(js, config)
            return
        except (nats.js.errors.ServiceUnavailableError, NatsTimeout, NoRespondersError) as exc:
            if loop.time() > deadline:
                raise
            log.info("JetStream not ready yet (%r); retrying", exc)
            await asyncio.sleep(0.5)


async def _create_or_update(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(config.name)
    except nats.js.errors.NotFoundError:
        try:
            await js.add_stream(config)
            return
        except nats.js.errors.BadRequestError:
            pass  # another service created it between our two calls
    await js.update_stream(config)


class _ApiError(msgspec.Struct):
    code: int = 0
    err_code: int = 0
    description: str = ""


class _PubAck(msgspec.Struct):
    seq: int = 0
    duplicate: bool = False
    error: _ApiError | None = None


_decode_pub_ack = msgspec.json.Decoder(_PubAck).decode


async def store(
    nc: NATS, subject: str, payload: bytes, headers: dict[str, str], timeout_s: float
) -> int:
    """Publish to a stream and wait for its acknowledgement; the stored message's sequence (the
    first copy's, for a duplicate). What ``JetStreamContext.publish`` does, with the ack read by
    msgspec: the run host publishes every event this way, and nats-py's ack parsing was a
    measurable share of its CPU. Raises what nats-py raises: ``NoStreamResponseError`` when no
    stream listens, ``ServiceUnavailableError`` / ``APIError`` when the stream refuses, a
    timeout when no ack came."""
    try:
        msg = await nc.request(subject, payload, timeout=timeout_s, headers=headers)
    except NoRespondersError:
        raise NoStreamResponseError from None
    ack = _decode_pub_ack(msg.data)
    if ack.error is not None:
        error = ack.error
        kind = (
            nats.js.errors.ServiceUnavailableError if error.code == 503 else nats.js.errors.APIError
        )
        raise kind(code=error.code, err_code=error.err_code, description=error.description)
    return ack.seq


class EventPublisher:
    """Publishes events to a user's stream and waits for JetStream to store them.

    Every event carries a ``Nats-Msg-Id``, so a retry after a lost ack is stored once (the
    stream's duplicate window). While NATS is away the publish is retried with backoff for up
    to ``give_up_after_s``; after that :class:`PublishFailed` tells the run it cannot go on.
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        ack_timeout_s: float = 2.0,
        give_up_after_s: float = 30.0,
        max_payload: int = 0,
    ) -> None:
        """``max_payload``: the server's limit (``nc.max_payload``); a larger event is refused
        here as :class:`EventTooLarge` (0: leave it to the client library)."""
        self._nc = js._nc  # nats-py keeps the connection on its JetStream context
        self._max_payload = max_payload
        self._ack_timeout_s = ack_timeout_s
        self._give_up_after_s = give_up_after_s

    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int:
        """Store ``event`` in ``user_id``'s stream; return its sequence number.

        ``msg_id`` names the event for the stream's duplicate window: give the same id when two
        different publishers may store the same event (a run's ending, from its owner or from a
        sweeper that took it over; a ``tool_completed``, from the tool runner or from the agent),
        and only the first copy is kept. Without it each event gets a fresh id, which still
        protects a retry after a lost ack. A duplicate returns the first copy's sequence.
        """
        subject = subjects.user_events(user_id)
        payload = encode_event(event)
        self._check_size(event, payload)
        # traceparent (when tracing): the gateway ties a run's first and last deliveries to it
        headers = tracing.inject({"Nats-Msg-Id": msg_id or uuid.uuid4().hex})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after_s
        delay = 0.05
        while True:
            try:
                return await store(self._nc, subject, payload, headers, self._ack_timeout_s)
            except nats.errors.MaxPayloadError:
                raise self._too_large(event, payload) from None
            except _PASSING as exc:
                if loop.time() + delay > deadline:
                    log.error(
                        "giving up publishing %s for run %s: %r",
                        event.__class__.__name__,
                        event.run_id,
                        exc,
                    )
                    raise PublishFailed(f"could not store event: {exc!r}") from exc
                log.warning("publish of run %s event not acked (%r); retrying", event.run_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
            except nats.js.errors.APIError as exc:
                if "size" in str(exc.description or "").lower():  # over the stream's max_msg_size
                    raise self._too_large(event, payload) from None
                raise PublishFailed(f"the event log refused the event: {exc}") from exc

    def _check_size(self, event: AnyEvent, payload: bytes) -> None:
        # Headers and subject travel too: keep a margin under the server's limit.
        if self._max_payload and len(payload) > self._max_payload - _HEADROOM_BYTES:
            raise self._too_large(event, payload)

    @staticmethod
    def _too_large(event: AnyEvent, payload: bytes) -> EventTooLarge:
        kind = event.__struct_config__.tag
        return EventTooLarge(
            f"the agent produced a {kind} event of {len(payload):,} bytes, over what the event "
            "log stores; the run was ended"
        )
