"""One run's events read from its user's durable log: what is stored, then what gets stored.

The log (the EVENTS stream) is the only source: :meth:`RunLog.read` pages the user's events
after the last one read (:meth:`~services.ws_gateway.eventlog.EventLog.page`, direct get) and
keeps the run's. To hear of new ones without polling hard, the reader subscribes to the user's
live subject (``live.user.<id>.events``, which the stream republishes every stored event to) as
a doorbell only: a ring wakes :meth:`RunLog.wait`, and the events are still read from the log,
in order, after the position reached. A lost ring costs at most ``poll_s`` (the reader looks
anyway), never an event, and so does a ring before the subscription: reads go on from the
position reached, whenever the bell was hung.

A read that fails (NATS away, the stream electing a leader) is retried at the next wait: the
position only moves over what was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
import nats.errors
from nats.aio.subscription import Subscription

from services.ws_gateway.eventlog import EventLog, EventLogError
from shared import bus, subjects
from shared.natsclient import Client as NatsClient
from shared.wire import events as e

__all__ = ["RunLog"]

log = logging.getLogger(__name__)

_PAGE_EVENTS = 512
_PAGE_BYTES = 2 * 1024 * 1024
_FAILURES = (EventLogError, nats.errors.Error, OSError)


class _RunOf(msgspec.Struct):
    run_id: str = ""


_run_of = msgspec.json.Decoder(_RunOf).decode


class RunLog:
    """The events of ``run_id`` stored in ``user_id``'s log after seq ``after``."""

    def __init__(
        self,
        nc: NatsClient,
        event_log: EventLog,
        user_id: str,
        run_id: str,
        *,
        after: int,
        poll_s: float = 1.0,
    ) -> None:
        self._nc, self._log = nc, event_log
        self._user_id, self._run_id = user_id, run_id
        self._next = after + 1
        self._poll_s = poll_s
        self._rung = asyncio.Event()
        self._sub: Subscription | None = None

    async def open(self) -> None:
        """Subscribe to the doorbell; read once after it, whatever it rang before."""
        subject = subjects.live_user_events(self._user_id)
        self._sub = await self._nc.subscribe_raw(subject, self._ring)
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            async with asyncio.timeout(2):
                await bus.until_subscribed(self._nc)

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._sub.unsubscribe()
            self._sub = None

    async def read(self, *, strict: bool = False) -> list[tuple[int, e.AnyEvent]]:
        """The run's events stored since the last read, oldest first. A failed read returns what
        it got (the next one goes on from there), or with ``strict`` raises EventLogError."""
        found: list[tuple[int, e.AnyEvent]] = []
        try:
            while True:
                page = await self._log.page(self._user_id, self._next, _PAGE_EVENTS, _PAGE_BYTES)
                found.extend(self._of_run(page.events))
                if page.events:
                    self._next = page.events[-1][0] + 1
                if not page.events or not page.pending:
                    return found
        except _FAILURES as exc:
            if strict:
                raise EventLogError(f"the log of user {self._user_id} is unreadable") from exc
            log.warning("reading the log of user %s failed: %r; again soon", self._user_id, exc)
            return found

    async def wait(self, timeout_s: float) -> None:
        """Until something is stored for the user, ``poll_s``, or ``timeout_s``, the first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._rung.wait(), min(timeout_s, self._poll_s))
        self._rung.clear()

    def _of_run(self, stored: list[tuple[int, bytes]]) -> list[tuple[int, e.AnyEvent]]:
        events: list[tuple[int, e.AnyEvent]] = []
        needle = self._run_id.encode()
        for seq, payload in stored:
            if needle not in payload:  # most of a busy user's events are other runs'
                continue
            try:
                if _run_of(payload).run_id == self._run_id:
                    events.append((seq, e.decode_event(payload)))
            except msgspec.DecodeError:  # a type this gateway does not know yet: skipped
                log.debug("event %d of user %s not understood; skipped", seq, self._user_id)
        return events

    def _ring(self, subject: bytes, data: bytes, headers: bytes | None) -> None:
        self._rung.set()
