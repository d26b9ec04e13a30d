"""A socket's outgoing side, sans I/O: its bounded backlog, and frames held for run_accepted.

Backlog contract: every ``Send`` handed out counts as queued for the socket until the transport
reports it written (:meth:`Outbox.sent`); frames held back count too. A frame that would take the
backlog over :class:`Limits` raises :class:`BacklogFull`, and the session closes with
``SLOW_CONSUMER`` instead: a client that stops reading costs bounded memory and never slows the
bus or other sockets down. It reconnects and resumes from its last seq.

Order: while a run submission is outstanding, frames that must follow its ``run_accepted`` (the
run's events, and anything ordered after them) wait here; the agent's reply and the first event
travel different paths and may arrive in either order.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.ws_gateway.commands import Command, Send

__all__ = ["BacklogFull", "Limits", "Outbox"]

_SPLICE_BYTES = 28  # the most with_seq adds to a stored payload: '"seq":<19 digits>,'


class BacklogFull(Exception):
    """The socket's backlog would pass its bound: the client is too slow."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 65_536
    max_queued_frames: int = 1024
    max_queued_bytes: int = 4 * 1024 * 1024


class Outbox:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.last_seq = 0  # the seq of the last event handed out
        self._frames = self._bytes = 0  # the whole backlog: handed out and held
        self._held_frames = self._held_bytes = 0  # the part not handed out yet
        self._submits = 0
        self._waiting: list[tuple[int | None, bytes]] = []
        self._sent_since_tick = True  # a socket that just opened is not quiet

    @property
    def queued_frames(self) -> int:
        return self._frames

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    @property
    def waiting(self) -> bool:
        """Frames are held for an outstanding submission."""
        return bool(self._waiting)

    def send(self, frame: bytes) -> list[Command]:
        frames, n_bytes = self._frames + 1, self._bytes + len(frame)
        if frames > self.limits.max_queued_frames or n_bytes > self.limits.max_queued_bytes:
            raise BacklogFull
        self._frames, self._bytes = frames, n_bytes
        self._sent_since_tick = True
        return [Send(frame)]

    def emit(self, frame: bytes, seq: int | None = None) -> list[Command]:
        """Send in order; while a submission is outstanding, hold (run_accepted goes first)."""
        if self._submits:
            self.hold(frame)
            self._waiting.append((seq, frame))
            return []
        commands = self.send(frame)
        if seq is not None:
            self.last_seq = seq
        return commands

    def submit_started(self) -> None:
        self._submits += 1

    def submit_answered(self, answer: bytes) -> list[Command]:
        """The answer to a submission goes out, then whatever waited for the last one."""
        self._submits = max(0, self._submits - 1)
        commands = self.send(answer)
        if self._submits or not self._waiting:
            return commands
        waiting, self._waiting = self._waiting, []
        for seq, frame in waiting:
            self._held_frames -= 1  # already counted: they now move to the transport
            self._held_bytes -= len(frame)
            if seq is not None:
                self.last_seq = seq
        return commands + [Send(frame) for _, frame in waiting]

    def hold(self, frame: bytes) -> None:
        """Count a frame that is held back (here or by the session's cursor)."""
        self._count(frame)
        self._held_frames += 1
        self._held_bytes += len(frame)

    def unhold(self, frame: bytes) -> None:
        """Take a held frame off the backlog: it is dropped, or about to be counted again."""
        self._frames -= 1
        self._bytes -= len(frame)
        self._held_frames -= 1
        self._held_bytes -= len(frame)

    def drop_waiting(self) -> None:
        for _, frame in self._waiting:
            self.unhold(frame)
        self._waiting = []

    def sent(self, n_bytes: int) -> None:
        """The transport wrote one frame of ``n_bytes`` to the socket."""
        self._frames = max(0, self._frames - 1)
        self._bytes = max(0, self._bytes - n_bytes)

    def page_budget(self) -> tuple[int, int] | None:
        """Room for the next replay page as (frames, bytes); None: let the socket drain first.

        A page is read only once what the transport still has to write is at most half the
        bound, and it takes at most half of the room left, so ``caught_up``, a ``pong`` or an
        error always fit after it. A resume of any size pages through the bound instead of over
        it, while a client that stops reading still ends with SLOW_CONSUMER. Nothing is read
        while a submission is outstanding, so replayed events are never held for it.
        """
        if self._submits:
            return None
        limits = self.limits
        writing_frames = self._frames - self._held_frames
        writing_bytes = self._bytes - self._held_bytes
        if (
            writing_frames * 2 > limits.max_queued_frames
            or writing_bytes * 2 > limits.max_queued_bytes
        ):
            return None
        frames = (limits.max_queued_frames - self._frames) // 2
        n_bytes = (limits.max_queued_bytes - self._bytes) // 2 - frames * _SPLICE_BYTES
        return max(1, frames), max(1, n_bytes)

    def tick(self) -> bool:
        """A heartbeat tick: True when nothing was sent since the previous tick."""
        quiet = not self._sent_since_tick
        self._sent_since_tick = False
        return quiet

    def beat(self, frame: bytes) -> list[Command]:
        """Send a heartbeat; it does not count as activity, so a quiet socket gets one a tick."""
        self._count(frame)
        return [Send(frame)]

    def clear(self) -> None:
        self._waiting = []
        self._frames = self._bytes = self._held_frames = self._held_bytes = 0

    def _count(self, frame: bytes) -> None:
        frames = self._frames + 1
        n_bytes = self._bytes + len(frame)
        if frames > self.limits.max_queued_frames or n_bytes > self.limits.max_queued_bytes:
            raise BacklogFull
        self._frames, self._bytes = frames, n_bytes
