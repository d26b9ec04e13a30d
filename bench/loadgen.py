"""A load-generator process: many client sockets, one per user, and what they received.

The parent splits the users between several of these (``--clients-procs``) and drives them
through :class:`bench.worker.Worker`. Each keeps its running event count in a shared-memory
slot, which is how the publisher knows how far delivery lags behind it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from bench.clients import AgentwireSocket, NatsWsSocket, Tally, WsSocket
from bench.stats import LatencyHistogram, summarize
from shared import subjects

__all__ = ["LoadGen", "Target", "UserEntry", "merge_hist"]

# A target: {"kind": "agentwire"} (each user entry names its gateway port and token) or
# {"kind": "natsws", "port": <nats-server websocket port>}.
Target = dict[str, Any]
# A user entry: (user_id, token or None, port)
UserEntry = tuple[str, str | None, int]


class LoadGen:
    def __init__(self, index: int, delivered: Any) -> None:
        self._index = index
        self._delivered = delivered
        self.tally = Tally()
        self.sockets: dict[str, WsSocket] = {}
        self._entries: dict[str, UserEntry] = {}
        self._kind = ""

    def _on_read(self) -> None:
        self._delivered[self._index] = self.tally.events

    async def _open(self, entry: UserEntry, after_seq: int | None = None) -> WsSocket:
        user_id, token, port = entry
        loop = asyncio.get_running_loop()
        sock: WsSocket
        if self._kind == "agentwire":
            assert token is not None
            sock = AgentwireSocket(self.tally, port, token, after_seq, self._on_read)
        else:
            sock = NatsWsSocket(self.tally, port, subjects.live_user_events(user_id), self._on_read)
        await loop.create_connection(lambda: sock, "127.0.0.1", port)
        await sock.opened
        if isinstance(sock, NatsWsSocket):
            await sock.ready
        return sock

    async def connect(
        self, kind: str, entries: list[UserEntry], concurrency: int, timeout_s: float
    ) -> dict[str, Any]:
        """Open one socket per entry, ``concurrency`` handshakes at a time."""
        self._kind = kind
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        t0 = time.perf_counter()

        async def one(entry: UserEntry) -> None:
            async with gate:
                try:
                    sock = await asyncio.wait_for(self._open(entry), timeout_s)
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    return
                self.sockets[entry[0]] = sock
                self._entries[entry[0]] = entry

        await asyncio.gather(*(one(entry) for entry in entries))
        return {
            "opened": sum(1 for e in entries if e[0] in self.sockets),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(3)),
            "seconds": time.perf_counter() - t0,
        }

    async def set_windows(self, latency: tuple[float, float], receive: tuple[float, float]) -> None:
        self.tally.set_windows(latency, receive)

    async def reopen(self, timeout_s: float = 20.0) -> dict[str, Any]:
        """Reconnect (resuming where possible) every socket the server closed."""
        gone = [user for user, sock in self.sockets.items() if sock.closed.done()]
        failed = 0
        for user in gone:
            after = getattr(self.sockets[user], "last_seq", None)
            try:
                self.sockets[user] = await asyncio.wait_for(
                    self._open(self._entries[user], after), timeout_s
                )
            except Exception:
                failed += 1
        return {"reopened": len(gone) - failed, "failed": failed}

    async def report(self) -> dict[str, Any]:
        hist = self.tally.histogram()
        return {
            "events": self.tally.events,
            "rx_window": self.tally.rx_window,
            "hist": hist.to_sparse(),
            "hist_total_s": hist.total_s,
            "closes": dict(self.tally.closes),
            "unparsed": self.tally.unparsed,
            "open": sum(1 for s in self.sockets.values() if not s.closed.done()),
        }

    async def probe(self, users: list[str], offline_s: float, timeout_s: float) -> dict[str, Any]:
        """Drop and reopen each user's socket in turn; time how long until it is caught up.

        agentwire: the new socket asks for ``?after_seq=<last seq seen>``; "caught up" is the
        ``caught_up`` frame when the gateway sends one (resume), else the first live event.
        nats-server: reconnect, CONNECT, SUB, and the first live event.
        """
        resume: bool | None = None if self._kind == "agentwire" else False
        samples: list[dict[str, float | None]] = []
        stale = failed = 0
        for user in users:
            old = self.sockets.get(user)
            if old is None:
                continue
            after = getattr(old, "last_seq", None)
            old.abort()
            await asyncio.sleep(offline_s)
            t0 = time.perf_counter()
            try:
                sock = await asyncio.wait_for(self._open(self._entries[user], after), timeout_s)
            except Exception:
                failed += 1
                continue
            self.sockets[user] = sock
            opened = time.perf_counter()
            wait_resume = resume is not False
            ready = await _until(lambda s=sock, w=wait_resume: _caught_up(s, w), timeout_s)
            if resume is None:
                resume = getattr(sock, "caught_up_at", None) is not None
            stale += getattr(sock, "stale", 0)
            samples.append(_probe_sample(sock, t0, opened, ready))
        return {"resume": bool(resume), "samples": samples, "stale": stale, "failed": failed}

    async def close_all(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """Close every socket cleanly; those that do not finish in time are dropped."""
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
        self._entries.clear()
        return {"closed": len(socks)}

    async def aclose(self) -> None:
        for sock in self.sockets.values():
            sock.abort()


def _caught_up(sock: WsSocket, wait_resume: bool) -> bool:
    if getattr(sock, "caught_up_at", None) is not None:
        return True
    first = getattr(sock, "first_event_at", None)
    if first is None:
        return False
    # While we do not yet know whether the gateway resumes, give caught_up a second to show.
    return not wait_resume or time.perf_counter() - first > 1.0


async def _until(predicate: Any, timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.0005)
    return True


def _probe_sample(sock: WsSocket, t0: float, opened: float, ready: bool) -> dict[str, Any]:
    def ms(at: float | None) -> float | None:
        return None if at is None else round((at - t0) * 1e3, 3)

    return {
        "open_ms": ms(opened),
        "first_event_ms": ms(getattr(sock, "first_event_at", None)),
        "caught_up_ms": ms(getattr(sock, "caught_up_at", None)),
        "ready": ready,
    }


def merge_hist(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The latency summary over several load generators' reports."""
    hist = LatencyHistogram()
    for report in reports:
        hist = hist.merge(LatencyHistogram.from_sparse(report["hist"], report["hist_total_s"]))
    return summarize(hist)
