"""The hub's bookkeeping against an in-memory stand-in for NATS: one subscription per user."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.ws_gateway.hub import Hub
from services.ws_gateway.transport import Connection
from tests.unit.ws_gateway.fakes import FakeBackend, FakeNats, FakeNewest, connection, live


def hub_on(nats: FakeNats, newest: FakeNewest | None = None) -> Hub:
    return Hub(nats, newest or FakeNewest())  # type: ignore[arg-type]


async def settle() -> None:
    """Let tasks the hub and connections started (look-ups, replays) take their steps."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_one_subscription_per_user_however_many_sockets() -> None:
    nats = FakeNats()
    hub = hub_on(nats)
    tab1, tab2, other = connection("alice"), connection("alice"), connection("bob")

    for conn in (tab1, tab2, other):
        await hub.join(conn)

    assert sorted(nats.subscriptions) == ["live.user.alice.events", "live.user.bob.events"]
    assert len(hub) == 2


async def test_the_last_socket_to_leave_takes_the_subscription_with_it() -> None:
    nats = FakeNats()
    hub = hub_on(nats)
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
    hub = hub_on(nats)
    tab1, tab2, other = connection("alice"), connection("alice"), connection("bob")
    for conn in (tab1, tab2, other):
        await hub.join(conn)

    await nats.subscriptions["live.user.alice.events"](live("alice", 5, 0))

    assert (tab1.session.last_seq, tab2.session.last_seq, other.session.last_seq) == (5, 5, 0)


async def test_a_skipped_event_on_the_live_path_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    nats = FakeNats()
    hub = hub_on(nats, FakeNewest({"alice": 7}))
    await hub.join(connection("alice"))
    await settle()  # the newest-event look-up is done
    deliver = nats.subscriptions["live.user.alice.events"]

    with caplog.at_level(logging.WARNING, logger="services.ws_gateway.hub"):
        await deliver(live("alice", 10, 7))
        await deliver(live("alice", 11, 10))  # in order
        assert caplog.records == []
        await deliver(live("alice", 14, 12))  # 12 never arrived

    [record] = caplog.records
    assert "skipped" in record.getMessage() and "14" in record.getMessage()


async def test_a_socket_that_misses_a_live_event_asks_the_stream_for_it() -> None:
    nats, backend = FakeNats(), FakeBackend()
    hub = hub_on(nats, FakeNewest({"alice": 7}))
    tab = connection("alice", backend)
    await hub.join(tab)
    await settle()
    deliver = nats.subscriptions["live.user.alice.events"]

    await deliver(live("alice", 10, 7))
    await deliver(live("alice", 14, 12))  # 12 was lost on the way
    await settle()  # the connection starts its replay task

    [replay] = backend.replays
    assert replay.after_seq == 10 and not replay.check_gap
    assert tab.session.last_seq == 10  # 14 waits for 12


async def test_a_fresh_socket_takes_the_users_newest_event_as_its_position() -> None:
    nats, backend = FakeNats(), FakeBackend()
    hub = hub_on(nats, FakeNewest({"alice": 40}))
    tab = connection("alice", backend)
    await hub.join(tab)
    await settle()

    hub.repair()  # as after a NATS reconnect: events after 40 may have been lost
    await settle()

    assert [r.after_seq for r in backend.replays] == [40]
    assert hub.newest("alice") == 40


async def test_a_second_socket_gets_the_known_newest_at_once() -> None:
    nats, backend = FakeNats(), FakeBackend()
    hub = hub_on(nats, FakeNewest({"alice": 40}))
    await hub.join(connection("alice"))
    await settle()
    await nats.subscriptions["live.user.alice.events"](live("alice", 41, 40))

    late = connection("alice", backend)
    await hub.join(late)
    late.execute(late.session.repair())
    await settle()

    assert [r.after_seq for r in backend.replays] == [41]


async def test_heartbeat_ticks_reach_quiet_sockets_with_the_users_newest_seq() -> None:
    nats = FakeNats()
    hub = hub_on(nats, FakeNewest({"alice": 40}))
    tab = connection("alice")
    await hub.join(tab)
    await settle()

    hub.heartbeat()  # the socket just opened: not quiet yet
    assert tab.session.queued_frames == 0
    hub.heartbeat()
    assert tab.session.queued_frames == 1  # one heartbeat frame, waiting for the writer


async def test_everyone_leaving_during_the_subscribe_leaves_no_subscription() -> None:
    nats = FakeNats(gate=asyncio.Event())
    hub = hub_on(nats)
    tab = connection("alice")
    joining = asyncio.create_task(hub.join(tab))
    await asyncio.sleep(0)

    await hub.leave(tab)
    nats.gate.set()  # type: ignore[union-attr]
    await joining

    assert nats.subscriptions == {}
    assert len(hub) == 0


# One subscription for every user (LIVE_SUBSCRIPTION=all)


async def hub_for_all_users_with_alice_twice_and_bob(
    nats: FakeNats,
) -> tuple[Hub, list[Connection]]:
    hub = Hub(nats, FakeNewest(), per_user=False)  # type: ignore[arg-type]
    await hub.start()
    conns = [connection("alice"), connection("alice"), connection("bob")]
    for conn in conns:
        await hub.join(conn)
    return hub, conns


async def test_with_one_subscription_for_all_users_sockets_subscribe_nothing_of_their_own() -> None:
    nats = FakeNats()
    hub, conns = await hub_for_all_users_with_alice_twice_and_bob(nats)
    for conn in conns:
        await hub.leave(conn)

    assert list(nats.subscriptions) == ["live.user.*.events"]
    assert len(hub) == 0


async def test_with_one_subscription_each_event_reaches_its_users_sockets_only() -> None:
    nats = FakeNats()
    hub, conns = await hub_for_all_users_with_alice_twice_and_bob(nats)
    deliver = nats.subscriptions["live.user.*.events"]

    await deliver(live("alice", 5, 0))
    await deliver(live("carol", 6, 0))  # nobody here: dropped without a trace

    assert [conn.session.last_seq for conn in conns] == [5, 5, 0]
    assert hub.newest("carol") == 0 and len(hub) == 2
