"""A load-generator process for the runs benchmark: users' sockets that send messages and check
every frame that comes back.

The parent (:mod:`bench.runs.phases`) splits the users between a few of these and drives them
through :class:`bench.worker.Worker`. A socket is the bench's bare uvloop WebSocket client
(:mod:`bench.clients`); each frame is decoded once (msgspec, only the fields the checker reads)
and handed to this process's :class:`~bench.runs.checker.Checker`.

Sends follow a fixed schedule (open loop): a late reply never delays the next send, so queueing
in the stack shows as latency instead of as a lower offered rate. Each message goes to the next
user, round robin, that has no message still waiting for its ``run_accepted`` (an ``error`` frame
names no message, so one unanswered message per socket keeps errors attributable); when every
user is waiting, it goes to the next one anyway (counted as ``sent_while_busy``).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import Counter
from typing import Any

import msgspec

from bench.clients import Tally as ReadClock
from bench.clients import WsSocket
from bench.runs.checker import Checker, Message, SocketView
from bench.runs.tally import phase_report
from bench.wsframes import OP_TEXT

__all__ = ["RunsLoadGen", "RunsSocket", "UserEntry"]

# (user_id, access token, gateway port)
UserEntry = tuple[str, str, int]
_POLL_S = 0.02


class RunsSocket(WsSocket):
    """One user's ``/ws``: every data frame goes to the checker, stamped with its read time."""

    def __init__(
        self,
        clock: ReadClock,
        checker: Checker,
        view: SocketView,
        port: int,
        token: str,
        after_seq: int | None = None,
    ) -> None:
        path = "/ws" if after_seq is None else f"/ws?after_seq={after_seq}"
        super().__init__(clock, port, path, {"Authorization": f"Bearer {token}"})
        self.checker = checker
        self.view = view

    def message(self, buf: bytearray, start: int, end: int) -> None:
        self.checker.raw(self.view, buf[start:end], self.tally.now)


class RunsLoadGen:
    def __init__(self, index: int) -> None:
        self._index = index
        self.clock = ReadClock()  # its ``now`` is stamped once per socket read
        self.checker = Checker()
        self.sockets: dict[str, RunsSocket] = {}
        self.views: dict[str, SocketView] = {}
        self._tokens: dict[str, tuple[str, int]] = {}
        self._users: list[str] = []
        self._cursor = 0
        self._sent = 0
        self._busy_sends = 0
        self._prefix = b""
        self._window = (0.0, 0.0)

    async def connect(
        self, entries: list[UserEntry], content: str, concurrency: int, timeout_s: float
    ) -> dict[str, Any]:
        """Open one socket per user, ``concurrency`` handshakes at a time."""
        frame = msgspec.json.encode({"type": "message", "content": content})
        self._prefix = frame[:-1] + b',"client_msg_id":"'
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()
        t0 = time.perf_counter()

        async def one(entry: UserEntry) -> None:
            user_id, token, port = entry
            self._tokens[user_id] = (token, port)
            self.views.setdefault(user_id, SocketView(user_id))
            async with gate:
                try:
                    self.sockets[user_id] = await asyncio.wait_for(self._open(user_id), timeout_s)
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1

        await asyncio.gather(*(one(entry) for entry in entries))
        self._users = [e[0] for e in entries if e[0] in self.sockets]
        return {
            "opened": len(self._users),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(3)),
            "seconds": round(time.perf_counter() - t0, 2),
        }

    async def _open(self, user_id: str, after_seq: int | None = None) -> RunsSocket:
        token, port = self._tokens[user_id]
        sock = RunsSocket(self.clock, self.checker, self.views[user_id], port, token, after_seq)
        await asyncio.get_running_loop().create_connection(lambda: sock, "127.0.0.1", port)
        await sock.opened
        return sock

    def _send(self, user_id: str, due_at: float, phase: str) -> None:
        self._sent += 1
        msg_id = f"g{self._index}m{self._sent}"
        now = time.time()
        self.checker.sent(self.views[user_id], Message(msg_id, phase, due_at, now))
        self.sockets[user_id].send(OP_TEXT, self._prefix + msg_id.encode() + b'"}')

    def _next_user(self) -> str:
        """The next user, round robin, with no message waiting for its answer."""
        n = len(self._users)
        for _ in range(n):
            user = self._users[self._cursor]
            self._cursor = (self._cursor + 1) % n
            if not self.views[user].pending:
                return user
        self._busy_sends += 1
        return self._users[self._cursor]

    async def burst(self, plan: dict[str, Any]) -> dict[str, Any]:
        """One message from every user at ``start_at``; back when all are resolved (or not)."""
        phase, start_at = plan["phase"], plan["start_at"]
        self._begin(phase, (start_at, float("inf")))
        await asyncio.sleep(max(0.0, start_at - time.time()))
        for user in self._users:
            self._send(user, start_at, phase)
        sent_in = time.time() - start_at
        await self._drain(phase, plan["timeout_s"])
        return {"burst_send_ms": round(sent_in * 1e3, 1)}

    async def open_loop(self, plan: dict[str, Any]) -> dict[str, Any]:
        """``rate`` messages/s from ``start_at`` for ``seconds``, then wait for their runs."""
        phase, rate, start_at = plan["phase"], plan["rate"], plan["start_at"]
        self._begin(phase, (plan["window"][0], plan["window"][1]))
        for i in range(int(rate * plan["seconds"])):
            due = start_at + i / rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._send(self._next_user(), due, phase)
        await self._drain(phase, plan["drain_s"])
        return {"unresolved": self.checker.unresolved(phase)}

    def _begin(self, phase: str, window: tuple[float, float]) -> None:
        self._busy_sends = 0
        self.clock.closes = Counter()
        self._window = window
        self.checker.start_phase(phase, window)

    async def _drain(self, phase: str, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.checker.unresolved(phase) == 0:
                return
            await asyncio.sleep(_POLL_S)

    async def report(self) -> dict[str, Any]:
        """The figures of the phase under way (call it once its runs have ended)."""
        report = phase_report(self.checker, self.checker.tally, self._window)
        report["counts"]["sent_while_busy"] = self._busy_sends
        report["counts"]["open_sockets"] = sum(
            1 for s in self.sockets.values() if not s.closed.done()
        )
        report["closes"] = dict(self.clock.closes)
        return report

    async def seqs(self, lo: int, hi: int) -> dict[str, list[int]]:
        """Each user's received seqs in ``(lo, hi]``, in arrival order."""
        found: dict[str, list[int]] = {}
        for user, view in self.views.items():
            seqs = view.seqs
            i = bisect.bisect_right(seqs, lo)
            j = bisect.bisect_right(seqs, hi)
            if i < j:
                found[user] = list(seqs[i:j])
        return found

    async def reopen(self, timeout_s: float = 20.0) -> dict[str, Any]:
        """Reconnect, resuming after the last seq seen, every socket the server closed."""
        gone = [user for user, sock in self.sockets.items() if sock.closed.done()]
        failed = 0
        for user in gone:
            try:
                self.sockets[user] = await asyncio.wait_for(
                    self._open(user, self.views[user].last_seq), timeout_s
                )
            except Exception:
                failed += 1
        return {"reopened": len(gone) - failed, "failed": failed}

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
