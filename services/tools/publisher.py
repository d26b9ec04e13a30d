"""Publishing events with a chosen Nats-Msg-Id, so that two publishers of one event store it once.

:class:`shared.bus.EventPublisher` gives every event a fresh random id, which protects a retry
but not two *different* publishers of the same event. A call's ``tool_completed`` can come from
this runner or, when the runner is gone, from the agent, so both use the id from
:func:`services.tools.runner.completed_msg_id` and the stream's duplicate window (120 s) keeps the
first. This mirrors ``EventPublisher.publish`` plus the id; it belongs in ``shared.bus`` once that
module can change (the agent has the same class for the same reason).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import NoStreamResponseError

from shared import subjects
from shared.errors import PublishFailed
from shared.wire.events import AnyEvent, encode_event

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

_RETRIED = (NatsTimeout, NoRespondersError, NoStreamResponseError, ConnectionError)


class Publisher:
    """Stores events in the user's stream, retrying with backoff for up to ``give_up_after_s``."""

    def __init__(
        self, js: JetStreamContext, *, ack_timeout_s: float = 2.0, give_up_after_s: float = 30.0
    ) -> None:
        self._js = js
        self._ack_timeout_s = ack_timeout_s
        self._give_up_after_s = give_up_after_s

    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int:
        """Store ``event``; return its stream sequence (the first copy's, for a duplicate)."""
        subject = subjects.user_events(user_id)
        payload = encode_event(event)
        headers = {"Nats-Msg-Id": msg_id or uuid.uuid4().hex}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after_s
        delay = 0.05
        while True:
            try:
                ack = await self._js.publish(
                    subject, payload, timeout=self._ack_timeout_s, headers=headers
                )
                return ack.seq
            except _RETRIED as exc:
                if loop.time() + delay > deadline:
                    log.error("giving up publishing for run %s: %r", event.run_id, exc)
                    raise PublishFailed(f"could not store event: {exc!r}") from exc
                log.warning("publish of run %s event not acked (%r); retrying", event.run_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
