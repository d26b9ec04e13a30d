"""Carrying out a session's ``Replay``: read the user's stored events and feed them back, paged.

One task per socket (the transport owns it; a newer replay cancels an older one), so a replay
never blocks other sockets or the NATS subscription callback. Steps:

1. **Gap check** (a client's resume point N > 0). The stream still vouches for everything after
   N if it holds the user's event N. If it does not (gone, or N is another user's event) and the
   user's oldest kept event is newer than N, events after N were discarded: ``resume_gap`` first.
   A user with nothing kept at all is told the same when the stream itself has expired past N
   (its first seq is newer): whatever came after N is gone. N past the stream's last seq is no
   gap but a reset log: nothing to replay, and the client carries on from its newest event.
2. **Pages**, each only once the socket has drained to half its bound (``page_budget``), sized to
   what is left of it, so a huge backlog pages through the send queue instead of over it.
3. **Done** with the user's newest seq, for ``caught_up``.

A read that fails (NATS away, a slow answer) is retried with backoff for ``give_up_after_s``;
then the session closes the socket (1011) and the client resumes from where it got to.

Streamed text (:mod:`~services.ws_gateway.compaction`): a compacted replay (a ``deltas=1``
client's resume) first reads the range once to plan, then pages it as above through the plan. A
snapshot on join reads the user's events of the last ``snapshot_window_s`` (every run under way
began within it: no run may last longer) into whole runs; ``run_events`` reads one run's range.
Neither is paced per event: each run goes out as one ``run_snapshot`` frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import nats.errors

from services.ws_gateway.commands import Command, LoadRun, Replay
from services.ws_gateway.compaction import Compactor, ReplayPlan, RunHistory
from services.ws_gateway.eventlog import EventLog, EventLogError, Page
from services.ws_gateway.session import Session
from shared import subjects
from shared.errors import ErrorCode

__all__ = ["ReplayTarget", "Replayer"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_FAILURES = (EventLogError, nats.errors.Error, OSError)
# Reads that fold events in memory rather than sending each: pages as large as direct get gives.
_FOLD_BATCH = 1024
_FOLD_BYTES = 4 * 1024 * 1024


class ReplayTarget(Protocol):
    """The socket a replay feeds (a transport ``Connection``)."""

    @property
    def session(self) -> Session: ...

    def execute(self, commands: list[Command]) -> None: ...

    async def page_budget(self) -> tuple[int, int] | None:
        """Wait until the socket has room for a page; None once it is closing."""
        ...


class _SocketClosed(Exception):
    """The socket closed while its replay waited for room: nothing more to do."""


@dataclass(frozen=True, slots=True)
class _Start:
    gap_oldest: int = 0  # > 0: events after the resume point are gone; the log has from here
    beyond: bool = False  # the resume point is past the end of the stream
    owned: bool = False  # the resume point is one of the user's own events


class Replayer:
    def __init__(
        self,
        log: EventLog,
        *,
        page_events: int = 256,
        give_up_after_s: float = 15.0,
        snapshot_window_s: float = 400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log = log
        self._page_events = page_events
        self._give_up_after_s = give_up_after_s
        self._snapshot_window_s = snapshot_window_s
        self._clock = clock

    async def run(self, conn: ReplayTarget, replay: Replay) -> None:
        if replay.snapshot:
            await self._snapshot(conn, replay)
            return
        session, generation = conn.session, replay.generation
        try:
            start = await self._start(session.user_id, replay)
            if start.gap_oldest:
                conn.execute(session.replay_gap(generation, replay.after_seq, start.gap_oldest))
            last = None if start.beyond else await self._pages(conn, replay)
            if last is None:  # nothing after the resume point: the newest is at or before it
                last = await self._newest(session.user_id, replay.after_seq, start)
            conn.execute(session.replay_done(generation, last, start.beyond))
        except _SocketClosed:
            return
        except _FAILURES as exc:
            log.warning("replay for user %s failed: %r", session.user_id, exc)
            conn.execute(session.replay_failed(generation))

    async def _start(self, user_id: str, replay: Replay) -> _Start:
        after = replay.after_seq
        if not replay.check_gap or after == 0:
            return _Start()
        stored = await self._retry(self._log.get, after)
        if stored is not None and stored.subject == subjects.user_events(user_id):
            return _Start(owned=True)
        last_seq = await self._retry(self._log.last_seq)
        if stored is None and after > last_seq:
            return _Start(beyond=True)
        oldest = await self._retry(self._log.oldest, user_id)
        if oldest > after + 1:  # the user's oldest kept event is not the very next one
            return _Start(gap_oldest=oldest)
        if oldest == 0 and await self._retry(self._log.first_seq) > after:
            return _Start(gap_oldest=last_seq + 1)  # the next event is the first one kept
        return _Start()

    async def _newest(self, user_id: str, after_seq: int, start: _Start) -> int:
        if start.owned or after_seq == 0:
            return after_seq
        return await self._retry(self._log.newest, user_id)

    async def _pages(self, conn: ReplayTarget, replay: Replay) -> int | None:
        """Feed every stored event after the resume point; the last seq fed (None: none)."""
        session, user_id = conn.session, conn.session.user_id
        last, start_seq = None, replay.after_seq + 1
        compactor, read_once = None, None
        if replay.compact:
            compactor, read_once = await self._plan(user_id, start_seq)
        while True:
            if read_once is not None:
                page, read_once = read_once, None
            else:
                budget = await conn.page_budget()
                if budget is None:
                    raise _SocketClosed
                frames, n_bytes = budget
                batch = min(frames, self._page_events)
                page = await self._retry(self._log.page, user_id, start_seq, batch, n_bytes)
            if page.events:
                events: list[tuple[int, bytes | None]] = list(page.events)
                if compactor is not None:
                    events = [(seq, compactor.apply(seq, payload)) for seq, payload in page.events]
                conn.execute(session.replayed(replay.generation, events))
                last = page.events[-1][0]
                start_seq = last + 1
            if page.pending == 0:
                return last
            if not page.events:  # more to come, yet nothing came: do not spin on it
                raise EventLogError(f"empty page with {page.pending} pending at {start_seq}")

    async def _plan(self, user_id: str, start_seq: int) -> tuple[Compactor, Page | None]:
        """The compaction's first pass over everything after the resume point; when it all fit
        in one page, that page too (the replay needs no second read)."""
        plan, first, seq = ReplayPlan(), None, start_seq
        while True:
            page = await self._retry(self._log.page, user_id, seq, _FOLD_BATCH, _FOLD_BYTES)
            plan.scan(page.events)
            if first is None:
                first = page
            if page.pending == 0 or not page.events:
                break
            seq = page.events[-1][0] + 1
        only_page = first if first is not None and first.pending == 0 else None
        return Compactor(plan), only_page

    async def _snapshot(self, conn: ReplayTarget, replay: Replay) -> None:
        """The user's runs under way, as run_snapshot frames, then the live stream."""
        session, user_id = conn.session, conn.session.user_id
        try:
            history = RunHistory()
            # The newest first: an event stored while the window is read is then either in the
            # fold or after ``upto`` (delivered live), never skipped as already sent.
            newest = await self._retry(self._log.newest, user_id)
            since = self._clock() - self._snapshot_window_s
            last = await self._fold(history, user_id, since=since)
            upto = max(last or 0, newest)
            frames = history.snapshots(upto)
            conn.execute(session.snapshot_done(replay.generation, frames, upto))
        except _FAILURES as exc:
            log.warning("snapshot for user %s failed: %r", user_id, exc)
            conn.execute(session.replay_failed(replay.generation))

    async def load_run(self, conn: ReplayTarget, load: LoadRun) -> None:
        """Answer ``run_events``: the run's events in the range, folded, as one frame."""
        session = conn.session
        history = RunHistory(load.run_id)
        try:
            if load.upto_seq > load.after_seq:
                await self._fold(history, session.user_id, load.after_seq + 1, load.upto_seq)
        except _FAILURES as exc:
            log.warning("run_events for user %s failed: %r", session.user_id, exc)
            message = "the event log could not be read; try again"
            conn.execute(session.request_failed(ErrorCode.EVENT_LOG_UNAVAILABLE, message))
            return
        conn.execute(session.run_loaded(history.snapshot(load.run_id, load.upto_seq)))

    async def _fold(
        self,
        history: RunHistory,
        user_id: str,
        start_seq: int = 0,
        upto_seq: int | None = None,
        *,
        since: float = 0.0,
    ) -> int | None:
        """Feed the user's stored events from ``start_seq`` (or ``since``) up to ``upto_seq``
        (None: the newest) into ``history``; the last seq fed (None: none)."""
        last = None
        while True:
            page = await self._retry(
                self._log.page, user_id, start_seq, _FOLD_BATCH, _FOLD_BYTES, since=since
            )
            events = page.events
            if upto_seq is not None:
                events = [(seq, payload) for seq, payload in events if seq <= upto_seq]
            history.feed(events)
            if events:
                last = events[-1][0]
            if not page.events or page.pending == 0 or len(events) < len(page.events):
                return last
            start_seq, since = page.events[-1][0] + 1, 0.0

    async def _retry(self, read: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
        """``read(*args)``, again with backoff while it fails, for up to give_up_after_s."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._give_up_after_s
        delay = 0.05
        while True:
            try:
                return await read(*args, **kwargs)
            except _FAILURES as exc:
                if loop.time() + delay > give_up_at:
                    raise
                log.debug("event log read failed (%r); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
