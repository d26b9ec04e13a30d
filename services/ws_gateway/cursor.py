"""Where one socket stands in its user's event log, sans I/O: dedupe, gaps, resume, replay.

``seq`` is an event's position in the EVENTS stream; it rises across one user's events but skips
(other users share the stream). A :class:`Cursor` keeps two marks:

- ``high_seq``: an event at or below it was handed out, is held, or predates the client's resume
  point. Anything at or below it is dropped: the one dedupe rule, for live and replayed events.
- ``position``: every event of this user at or below it is accounted for. A live event whose
  ``previous`` (the user's event before it, from the stream's republish header) is above it
  reveals a gap: the cursor asks for a ``Replay`` from ``position`` and holds live events.

Resume sets both marks to N and replays everything after N: ``resume_gap`` first if the stream
lost some of it, the stored events page by page, then the live events held meanwhile (through the
same dedupe rule, so the seam has neither a gap nor a duplicate), then ``caught_up``. A gap still
there after a replay gets one more (a lagging replica may have answered); after that it is
reported with ``resume_gap``, never skipped in silence.

Every replay has a generation; a newer one (a second resume) makes the older one's pages stale.

Streamed text (``deltas=1``, see :mod:`~services.ws_gateway.compaction`): a socket that did not
opt in is *hidden* the stream events, live and replayed; a replayed event the compaction left out
comes as ``None``. Either way the event still moves the marks (it is accounted for, only not
sent), so hiding never looks like a gap. A snapshot on join is a replay too: live events are held
while the user's runs are read, then released after the snapshot's ``upto_seq``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.ws_gateway.commands import Command, Replay
from services.ws_gateway.compaction import is_stream_event
from services.ws_gateway.framing import caught_up_frame, resume_gap_frame, with_seq
from services.ws_gateway.outbox import Outbox

__all__ = ["Cursor"]

# (seq, previous, frame) of a live event held during a replay; frame None: hidden from this socket
Held = tuple[int, int, bytes | None]


@dataclass(eq=False, slots=True)
class _Replaying:
    generation: int
    owes_caught_up: bool  # a client's resume asked for this replay
    is_retry: bool  # started because a gap outlived the previous replay
    again: bool = False  # NATS reconnected meanwhile: read once more before releasing
    live: list[Held] = field(default_factory=list)


class Cursor:
    def __init__(self, outbox: Outbox, *, deltas: bool = False) -> None:
        self._out = outbox
        self.deltas = deltas  # the socket asked for streamed text (deltas=1)
        self.high_seq = 0
        self.position: int | None = None  # None: unknown yet (no resume, baseline or event)
        self.start_seq: int | None = None  # where the socket started: its resume or baseline
        self._replay: _Replaying | None = None
        self._generation = 0

    @property
    def replaying(self) -> bool:
        return self._replay is not None

    # Live events

    def event(self, seq: int, payload: bytes, previous: int) -> list[Command]:
        hidden = not self.deltas and is_stream_event(payload)
        frame = None if hidden else with_seq(seq, payload)
        if self._replay is None and not self._is_gap(seq, previous):
            return self._accept(seq, frame)  # the usual case
        if self._replay is None:
            assert self.position is not None  # a gap needs a known position
            replay = self._start(self.position, owes_caught_up=False, is_retry=False)
            self._hold(seq, previous, frame)
            return replay
        self._hold(seq, previous, frame)
        return []

    def baseline(self, seq: int) -> None:
        """The user's newest event when the socket joined: a fresh socket's position."""
        if self.position is None:
            self.position = self.start_seq = seq

    def resume_point(self) -> int | None:
        """Where a client that has every frame sent so far may resume from: the last event
        handed out, or where the socket started; None while neither is known."""
        if self.start_seq is None:
            return self._out.last_seq or None
        return max(self.start_seq, self._out.last_seq)

    def repair(self) -> list[Command]:
        """Live events may have been lost (NATS reconnected): read from the stream again."""
        if self.position is None:
            return []
        if self._replay is not None:
            self._replay.again = True
            return []
        return self._start(self.position, owes_caught_up=False, is_retry=False)

    # Replay

    def resume(self, after_seq: int) -> list[Command]:
        self._out.drop_waiting()  # whatever waited comes again from the stream, in order
        self._drop_live()
        self.high_seq = self.position = self._out.last_seq = self.start_seq = after_seq
        return self._start(after_seq, owes_caught_up=True, is_retry=False, check_gap=after_seq > 0)

    def snapshot(self) -> list[Command]:
        """A ``deltas=1`` socket joined without a resume point: read its user's runs under way,
        holding live events meanwhile (see :meth:`snapshot_done`)."""
        return self._start(0, owes_caught_up=False, is_retry=False, snapshot=True)

    def snapshot_done(self, generation: int, frames: list[bytes], upto_seq: int) -> list[Command]:
        """The ``run_snapshot`` frames, each of the user's events up to ``upto_seq`` in them:
        the socket stands at ``upto_seq`` and the live events held meanwhile follow."""
        replay = self._replay
        if replay is None or replay.generation != generation:
            return []
        self._replay = None
        self._settle(upto_seq)
        self.start_seq = max(self.start_seq or 0, upto_seq)
        commands: list[Command] = []
        for frame in frames:
            commands += self._out.emit(frame, upto_seq)
        # The client learns that the snapshot is whole (there may be no run, and no frame).
        commands += self._out.emit(caught_up_frame(upto_seq), upto_seq)
        if replay.again:
            return commands + self._start(
                upto_seq, owes_caught_up=False, is_retry=False, live=replay.live
            )
        return commands + self._release(replay)

    def is_current(self, generation: int) -> bool:
        return self._replay is not None and self._replay.generation == generation

    def replay_gap(self, generation: int, after_seq: int, oldest_seq: int) -> list[Command]:
        if not self.is_current(generation):
            return []
        self._settle(oldest_seq - 1)
        return self._out.emit(resume_gap_frame(after_seq, oldest_seq))

    def replayed(self, generation: int, events: list[tuple[int, bytes | None]]) -> list[Command]:
        """A page of stored events; None: left out by the compaction (still accounted for)."""
        if not self.is_current(generation):
            return []
        deltas = self.deltas
        commands: list[Command] = []
        for seq, payload in events:
            hidden = payload is None or (not deltas and is_stream_event(payload))
            commands += self._accept(seq, None if hidden else with_seq(seq, payload))  # type: ignore[arg-type]
        return commands

    def replay_done(self, generation: int, last_seq: int, beyond: bool) -> list[Command]:
        replay = self._replay
        if replay is None or replay.generation != generation:
            return []
        self._replay = None
        if beyond:
            self.high_seq = self.position = self._out.last_seq = last_seq
        assert self.position is not None  # every replay starts from a known position
        if replay.again:
            return self._start(
                self.position, replay.owes_caught_up, is_retry=False, live=replay.live
            )
        commands = self._release(replay)
        if self._replay is None and replay.owes_caught_up:
            commands += self._out.emit(caught_up_frame(max(self.high_seq, last_seq)))
        return commands

    def forget(self) -> None:
        self._replay = None

    def _release(self, replay: _Replaying) -> list[Command]:
        """Live events held during a replay, through the dedupe rule; a gap left gets a retry."""
        commands: list[Command] = []
        for index, (seq, previous, frame) in enumerate(replay.live):
            if self._is_gap(seq, previous):
                assert self.position is not None
                if not replay.is_retry:  # the rest stays held, and counted
                    rest = replay.live[index:]
                    return commands + self._start(
                        self.position, replay.owes_caught_up, is_retry=True, live=rest
                    )
                commands += self._out.emit(resume_gap_frame(self.position, seq))
                self._settle(seq - 1)
            if frame is not None:
                self._out.unhold(frame)
            commands += self._accept(seq, frame)
        return commands

    def _start(
        self,
        after_seq: int,
        owes_caught_up: bool,
        *,
        is_retry: bool,
        check_gap: bool = False,
        live: list[Held] | None = None,
        snapshot: bool = False,
    ) -> list[Command]:
        self._generation += 1
        self._replay = _Replaying(self._generation, owes_caught_up, is_retry, live=live or [])
        # Compacted: a client's resume (it owes caught_up); a repair of the live path sends
        # what was missed as it was stored.
        compact = self.deltas and owes_caught_up
        return [Replay(self._generation, after_seq, check_gap, compact=compact, snapshot=snapshot)]

    # Both paths

    def _is_gap(self, seq: int, previous: int) -> bool:
        return self.position is not None and previous > self.position and seq > self.high_seq

    def _accept(self, seq: int, frame: bytes | None) -> list[Command]:
        if seq <= self.high_seq:
            return []
        self.high_seq = seq
        self.position = seq if self.position is None else max(self.position, seq)
        return [] if frame is None else self._out.emit(frame, seq)

    def _settle(self, seq: int) -> None:
        """Everything up to ``seq`` is settled (handed out, or reported lost): move past it."""
        self.high_seq = max(self.high_seq, seq)
        self.position = max(self.position or 0, seq)

    def _hold(self, seq: int, previous: int, frame: bytes | None) -> None:
        assert self._replay is not None
        live = self._replay.live
        if live and seq <= live[-1][0]:
            return  # a repeat of an event already held
        if frame is not None:
            self._out.hold(frame)
        live.append((seq, previous, frame))

    def _drop_live(self) -> None:
        if self._replay is not None:
            for _, _, frame in self._replay.live:
                if frame is not None:
                    self._out.unhold(frame)
            self._replay = None
