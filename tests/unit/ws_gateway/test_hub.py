"""The hub's bookkeeping against an in-memory stand-in for NATS: one subscription per user."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.ws_gateway.hub import Hub
from services.ws_gateway.session import Session
from services.ws_gateway.transport import Connection
from shared.wire import events

Callback = Callable[[Any], Awaitable[None]]


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


@dataclass
class FakeMsg:
    subject: str
    data: bytes
    headers: dict[str, str]


class NullSocket:
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


def connection(user_id: str) -> Connection:
    return Connection(Session(user_id), NullSocket(), lambda conn, request: None)


def live(user_id: str, seq: int, previous: int) -> FakeMsg:
    payload = events.encode_event(
        events.AgentThinking(
            run_id="r",
            thread_id="t",
            data=events.AgentThinkingData(agent_id="a", thought="hm"),
        )
    )
    headers = {"Nats-Sequence": str(seq), "Nats-Last-Sequence": str(previous)}
    return FakeMsg(f"live.user.{user_id}.events", payload, headers)


async def test_one_subscription_per_user_however_many_sockets() -> None:
    nats = FakeNats()
    hub = Hub(nats)  # type: ignore[arg-type]
    tab1, tab2, other = connection("alice"), connection("alice"), connection("bob")

    for conn in (tab1, tab2, other):
        await hub.join(conn)

    assert sorted(nats.subscriptions) == ["live.user.alice.events", "live.user.bob.events"]
    assert len(hub) == 2


async def test_the_last_socket_to_leave_takes_the_subscription_with_it() -> None:
    nats = FakeNats()
    hub = Hub(nats)  # type: ignore[arg-type]
    tab1, tab2 = connection("alice"), connection("alice")
    await hub.join(tab1)
    await hub.join(tab2)

    await hub.leave(tab1)
    assert "live.user.alice.events" in nats.subscriptions
    await hub.leave(tab2)
    assert nats.subscriptions == {}
    assert len(hub) == 0


async def test_each_event_reaches_every_socket_of_its_user_only() -> None:
    nats = FakeNats()
    hub = Hub(nats)  # type: ignore[arg-type]
    tab1, tab2, other = connection("alice"), connection("alice"), connection("bob")
    for conn in (tab1, tab2, other):
        await hub.join(conn)

    await nats.subscriptions["live.user.alice.events"](live("alice", 5, 0))

    assert (tab1.session.last_seq, tab2.session.last_seq, other.session.last_seq) == (5, 5, 0)


async def test_a_skipped_event_on_the_live_path_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    nats = FakeNats()
    hub = Hub(nats)  # type: ignore[arg-type]
    await hub.join(connection("alice"))
    deliver = nats.subscriptions["live.user.alice.events"]

    with caplog.at_level(logging.WARNING, logger="services.ws_gateway.hub"):
        await deliver(live("alice", 10, 7))  # first seen: nothing to compare with
        await deliver(live("alice", 11, 10))  # in order
        assert caplog.records == []
        await deliver(live("alice", 14, 12))  # 12 never arrived

    [record] = caplog.records
    assert "skipped" in record.getMessage() and "14" in record.getMessage()


async def test_everyone_leaving_during_the_subscribe_leaves_no_subscription() -> None:
    nats = FakeNats(gate=asyncio.Event())
    hub = Hub(nats)  # type: ignore[arg-type]
    tab = connection("alice")
    joining = asyncio.create_task(hub.join(tab))
    await asyncio.sleep(0)

    await hub.leave(tab)
    nats.gate.set()  # type: ignore[union-attr]
    await joining

    assert nats.subscriptions == {}
    assert len(hub) == 0
