"""In-memory stand-ins for what the gateway's units talk to: a socket, the backend, NATS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.ws_gateway.session import Replay, Request, Session
from services.ws_gateway.transport import Connection
from shared.wire import events
from shared.wire.runs import RunRequest

Callback = Callable[[Any], Awaitable[None]]


class MemorySocket:
    """A connection's sink that records what it is handed; ``writable`` is flow control."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.writes = 0  # how many writes those frames took
        self.closed_with: tuple[int, str] | None = None
        self.aborted = False
        self.writable = True

    def write_frames(self, frames: list[bytes]) -> None:
        assert self.writable and self.closed_with is None, "written while paused or closed"
        self.writes += 1
        self.sent.extend(json.loads(frame) for frame in frames)

    def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)

    def abort(self) -> None:
        self.aborted = True

    def keepalive(self, now: float, timeout_s: float) -> None:
        """Pings are the edge's business (tests/component/ws_gateway/test_heartbeat.py)."""


class NullSocket(MemorySocket):
    def write_frames(self, frames: list[bytes]) -> None: ...


@dataclass
class FakeBackend:
    """Records what connections ask for; ``replays`` run ``on_replay`` when one is set."""

    submitted: list[RunRequest] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    replays: list[Replay] = field(default_factory=list)
    on_replay: Callable[[Connection, Replay], Awaitable[None]] | None = None

    def submit(self, conn: Connection, request: RunRequest) -> None:
        self.submitted.append(request)

    def request(self, conn: Connection, request: Request) -> None:
        self.requests.append(request)

    async def replay(self, conn: Connection, replay: Replay) -> None:
        self.replays.append(replay)
        if self.on_replay is not None:
            await self.on_replay(conn, replay)


@dataclass
class FakeSubscription:
    subject: str
    nats: FakeNats

    async def unsubscribe(self) -> None:
        del self.nats.subscriptions[self.subject]


@dataclass
class FakeNats:
    subscriptions: dict[str, Callback] = field(default_factory=dict)
    gate: asyncio.Event | None = None  # when set, subscribe waits for it

    async def subscribe(self, subject: str, cb: Callback) -> FakeSubscription:
        if self.gate is not None:
            await self.gate.wait()
        assert subject not in self.subscriptions, "a second subscription for one user"
        self.subscriptions[subject] = cb
        return FakeSubscription(subject, self)

    async def subscribe_raw(
        self, subject: str, handler: Callable[[bytes, bytes, bytes | None], None]
    ) -> FakeSubscription:
        """Like shared.natsclient.Client.subscribe_raw; the test still hands it a FakeMsg."""

        async def as_raw(msg: FakeMsg) -> None:
            handler(msg.subject.encode(), msg.data, header_block(msg.headers))

        return await self.subscribe(subject, as_raw)

    async def flush(self) -> None:
        """Everything subscribed so far is in place at once."""


@dataclass
class FakeNewest:
    """The hub's look-up of a user's newest stored event."""

    seqs: dict[str, int] = field(default_factory=dict)
    gate: asyncio.Event | None = None

    async def newest(self, user_id: str) -> int:
        if self.gate is not None:
            await self.gate.wait()
        return self.seqs.get(user_id, 0)


@dataclass
class FakeMsg:
    subject: str
    data: bytes
    headers: dict[str, str]


def header_block(headers: dict[str, str]) -> bytes | None:
    """Headers as nats-server writes them on the wire (what a raw subscription gets)."""
    if not headers:
        return None
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"NATS/1.0\r\nNats-Stream: EVENTS\r\n{lines}\r\n".encode()


def thinking(thought: str = "thinking", run_id: str = "run-1") -> bytes:
    """A stored event's payload, as a producer encodes it (no seq)."""
    return events.encode_event(
        events.AgentThinking(
            run_id=run_id,
            thread_id="thread-1",
            data=events.AgentThinkingData(agent_id="agent-1", thought=thought, timestamp=1.5),
        )
    )


def live(user_id: str, seq: int, previous: int, thought: str = "hm") -> FakeMsg:
    """What the stream republishes to ``live.user.<id>.events`` for an event stored at seq."""
    headers = {"Nats-Sequence": str(seq), "Nats-Last-Sequence": str(previous)}
    return FakeMsg(f"live.user.{user_id}.events", thinking(thought), headers)


def connection(user_id: str, backend: FakeBackend | None = None) -> Connection:
    return Connection(Session(user_id), NullSocket(), backend or FakeBackend())
