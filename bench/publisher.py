"""The publisher process: agent events into JetStream, at a target rate or flat out.

Events are ``AgentThinking`` built and encoded with :mod:`shared.wire.events` (about 200 bytes),
with ``data.timestamp`` = the moment they are written to the socket. They go through JetStream
(``PUB user.<id>.events`` with a reply subject, so the stream stores each one and acks it), round
robin over the users, many in flight. The protocol is spoken directly rather than through
nats-py: ``js.publish_async`` spends a future, a dict entry and a semaphore per event, which
caps one process far below what the gateway under test can take; here a batch of events is one
``bytes.join`` and the acks are only counted (and checked for errors).

Two limits keep a run bounded: ``max_inflight`` un-acked events, and ``backlog`` events published
but not yet received by the load generators (their counters are shared memory). "Flat out" is
therefore a closed loop: as fast as the system under test delivers, never an unbounded queue.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench import natsproto
from shared import subjects
from shared.wire.events import AgentThinking, AgentThinkingData, encode_event

__all__ = ["Publisher", "event_payload", "pick_round_robin"]

_THOUGHT = "comparing p95 latency with last week's baseline"
_BATCH_MAX = 2000  # events per write; bounds how long one tick keeps the loop


def event_payload(timestamp: float, step: int) -> bytes:
    """One bench event, as a producer would publish it (no seq)."""
    event = AgentThinking(
        run_id="run-bench-0001",
        thread_id="thread-bench-01",
        data=AgentThinkingData(
            agent_id="bench-agent", thought=_THOUGHT, step=step, timestamp=timestamp
        ),
    )
    return encode_event(event)


def pick_round_robin(items: list[bytes], start: int, k: int) -> list[bytes]:
    """``k`` items of ``items`` in cyclic order from index ``start``."""
    n = len(items)
    whole, part = divmod(k, n)
    rotated = items[start:] + items[:start]
    return rotated * whole + rotated[:part]


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.acked = 0
        self.errors = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.reader = natsproto.NatsReader(self._ack, self.write, self._line)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)

    def _ack(self, buf: bytearray, start: int, end: int) -> None:
        self.acked += 1
        if buf.find(b'"error"', start, end) >= 0:
            self.errors += 1

    def _line(self, verb: bytes, line: bytes) -> None:
        if verb == b"PONG" and not self.ready.done():
            self.ready.set_result(None)
        elif verb == b"-ERR":
            self.errors += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("nats closed"))


class Publisher:
    def __init__(self, index: int, delivered: Any) -> None:
        self._index = index
        self._delivered = delivered  # shared counters: events received per load generator

    async def publish(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Run one publishing phase described by ``plan`` (see the keys read below)."""
        port: int = plan["port"]  # the scenario's nats-server (client port)
        users: list[str] = plan["users"]
        rate: float = plan.get("rate") or 0.0  # events/s; 0 = flat out
        start_at: float = plan["start_at"]
        seconds: float = plan["seconds"]
        backlog: int = plan.get("backlog", 50_000)
        max_inflight: int = plan.get("max_inflight", 20_000)
        win_from, win_to = plan.get("window", (0.0, 0.0))
        # At a fixed rate the backlog is not a brake (that would hide the delay: coordinated
        # omission) but a fuse: past ``overload_lag`` undelivered events the run stops.
        overload_lag: int = plan.get("overload_lag", 10**12)
        overloaded_at: float | None = None

        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Conn, "127.0.0.1", port)
        ack_subject = f"_BENCH_ACK.{os.getpid()}.{self._index}"
        conn.write(natsproto.CONNECT + natsproto.sub(ack_subject, 1) + natsproto.PING)
        await asyncio.wait_for(conn.ready, 5)
        prefixes = [f"PUB {subjects.user_events(u)} {ack_subject} ".encode() for u in users]
        await asyncio.sleep(max(0.0, start_at - time.time()))

        cpu0 = os.times()
        delivered0 = sum(self._delivered)
        sent = in_window = next_user = ticks = 0
        blocked_backlog = blocked_acks = 0
        t0 = time.time()
        end = t0 + seconds
        while (now := time.time()) < end:
            ticks += 1
            due = int(rate * (now - t0)) - sent if rate else _BATCH_MAX
            room_acks = max_inflight - (sent - conn.acked)
            lag = sent - (sum(self._delivered) - delivered0)
            if rate and lag > overload_lag:
                overloaded_at = now - t0
                break
            room_backlog = backlog - lag
            k = min(due, _BATCH_MAX, room_acks, room_backlog)
            if k <= 0:
                blocked_acks += room_acks <= 0
                blocked_backlog += room_backlog <= 0
                await asyncio.sleep(0.001)  # uvloop's timers have millisecond resolution
                continue
            payload = event_payload(now, ticks)
            tail = b"%d\r\n%s\r\n" % (len(payload), payload)
            batch = pick_round_robin(prefixes, next_user, k)
            conn.write(tail.join(batch) + tail)
            next_user = (next_user + k) % len(prefixes)
            sent += k
            if win_from <= now < win_to:
                in_window += k
            await asyncio.sleep(0.001 if rate else 0)
        elapsed = time.time() - t0
        ack_deadline = time.time() + 10
        while conn.acked < sent and time.time() < ack_deadline:  # noqa: ASYNC110 - bounded poll
            await asyncio.sleep(0.005)
        cpu1 = os.times()
        conn.transport.close()
        cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        return {
            "sent": sent,
            "acked": conn.acked,
            "errors": conn.errors,
            "in_window": in_window,
            "seconds": elapsed,
            "rate": sent / elapsed if elapsed else 0.0,
            "cpu_percent": round(100 * cpu_s / elapsed, 1) if elapsed else None,
            "ticks_blocked_on_backlog": blocked_backlog,
            "ticks_blocked_on_acks": blocked_acks,
            "ticks": ticks,
            "overloaded_after_s": overloaded_at,
        }
