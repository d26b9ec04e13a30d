"""A load-generator process for the streaming scenario: one ``deltas=1`` socket per user.

Driven over a pipe by :class:`bench.worker.Worker` like the fan-out bench's load generators; it
keeps its count of completed answers in a shared-memory slot, so the parent can tell when every
answer has arrived without asking.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.stream.client import StreamSocket, StreamTally

__all__ = ["StreamLoadGen", "UserEntry"]

_NOT_EVENTS = ("caught_up", "heartbeat", "resume_gap")

# (user_id, token, gateway port)
UserEntry = tuple[str, str, int]


class StreamLoadGen:
    def __init__(self, index: int, completed: Any) -> None:
        self._index = index
        self._completed = completed  # shared counters: answers completed, per load generator
        self.tally = StreamTally()
        self.sockets: dict[str, StreamSocket] = {}

    def _on_read(self) -> None:
        self._completed[self._index] = self.tally.completed

    async def _open(
        self, entry: UserEntry, tally: StreamTally, after_seq: int | None = None, **kw: Any
    ) -> StreamSocket:
        _, token, port = entry
        sock = StreamSocket(tally, port, token, after_seq, **kw)
        await asyncio.get_running_loop().create_connection(lambda: sock, "127.0.0.1", port)
        await sock.opened
        return sock

    async def connect(
        self, entries: list[UserEntry], concurrency: int, timeout_s: float
    ) -> dict[str, Any]:
        """Open one socket per entry, ``concurrency`` handshakes at a time."""
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        t0 = time.perf_counter()

        async def one(entry: UserEntry) -> None:
            async with gate:
                try:
                    sock = await asyncio.wait_for(
                        self._open(entry, self.tally, on_read=self._on_read), timeout_s
                    )
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    return
                self.sockets[entry[0]] = sock

        await asyncio.gather(*(one(entry) for entry in entries))
        return {
            "opened": len(self.sockets),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(3)),
            "seconds": round(time.perf_counter() - t0, 2),
        }

    async def set_windows(self, latency: tuple[float, float], receive: tuple[float, float]) -> None:
        self.tally.set_windows(latency, receive)

    async def report(self) -> dict[str, Any]:
        t = self.tally
        hist = t.histogram()
        unfinished = sum(1 for s in self.sockets.values() if s.completed == 0)
        return {
            "hist": hist.to_sparse(),
            "hist_total_s": hist.total_s,
            "lat_max_s": t.lat_max_s,
            "flush_hist": t.flush_hist.to_sparse(),
            "flush_hist_total_s": t.flush_hist.total_s,
            "coalesce_hist": t.coalesce_hist.to_sparse(),
            "coalesce_hist_total_s": t.coalesce_hist.total_s,
            "events": t.events,
            "events_rx_window": t.rx_window,
            "tokens": t.tokens,
            "tokens_rx_window": t.tokens_rx_window,
            "types": dict(t.types),
            "bytes": t.bytes,
            "completed": t.completed,
            "matched": t.matched,
            "mismatched": t.mismatched,
            "unfinished": unfinished,
            "out_of_order": t.out_of_order,
            "closes": dict(t.closes),
            "open": sum(1 for s in self.sockets.values() if not s.closed.done()),
        }

    async def socket_bytes(self, user: str) -> dict[str, Any]:
        """What one user's live socket received since :meth:`record`: the events' bytes, and
        every frame by type."""
        sock = self.sockets[user]
        events = sum(size for kind, size in sock.frames if kind not in _NOT_EVENTS)
        return {"bytes": events, "frames": _by_type(sock.frames), "events": dict(sock.events)}

    async def resume(self, entry: UserEntry, after_seq: int, timeout_s: float) -> dict[str, Any]:
        """Open a fresh ``deltas=1`` socket resuming after ``after_seq``; what it got until
        ``caught_up``: bytes, frames by type, and the answers it can show."""
        tally = StreamTally()
        t0 = time.perf_counter()
        sock = await asyncio.wait_for(self._open(entry, tally, after_seq, record=True), timeout_s)
        deadline = time.perf_counter() + timeout_s
        while sock.caught_up_at is None and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        sock.close()
        return {
            "caught_up": sock.caught_up_at is not None,
            "caught_up_ms": None
            if sock.caught_up_at is None
            else round((sock.caught_up_at - t0) * 1e3, 1),
            "bytes": sock.bytes_at_caught_up if sock.bytes_at_caught_up is not None else sock.bytes,
            "frames": _by_type(sock.frames),
            "results": sock.results,
            "open_text": {mid: "".join(parts) for mid, parts in sock.texts.items()},
        }

    async def record(self, user: str) -> None:
        self.sockets[user].record = True

    async def close_all(self, timeout_s: float = 5.0) -> dict[str, Any]:
        socks = list(self.sockets.values())
        for sock in socks:
            sock.close()
        pending = [s.closed for s in socks if not s.closed.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)
            for sock in socks:
                if not sock.closed.done():
                    sock.abort()
        self.sockets.clear()
        return {"closed": len(socks)}

    async def aclose(self) -> None:
        for sock in self.sockets.values():
            sock.abort()


def _by_type(frames: list[tuple[str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for kind, size in frames:
        entry = out.setdefault(kind, {"count": 0, "bytes": 0})
        entry["count"] += 1
        entry["bytes"] += size
    return out
