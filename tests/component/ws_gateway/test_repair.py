"""A live event the gateway never received is fetched from the stream, in order, before the next.

Two faithful ways to lose a live message:

- the hub's subscription drops it (a test hook in front of the real callback: as if core NATS
  had lost that one message), while the next one arrives with ``Nats-Last-Sequence`` naming it;
- the gateway's NATS connection is cut by a TCP relay between it and nats-server, events are
  stored meanwhile (their republish goes nowhere), and the connection comes back: no later event
  reveals the gap, so only the reconnect repair can deliver them.
"""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS

from services.ws_gateway.hub import Hub
from tests.component.ws_gateway.conftest import (
    NatsProxy,
    Sign,
    eventually,
    publish,
    recv_json,
    recv_through,
    seqs,
)


@pytest.fixture
def lossy_live_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub never sees live events whose thought says "lost"."""
    deliver = Hub._deliver

    def lossy(self: Hub, user: object, subject: str, data: bytes, headers: bytes | None) -> None:
        if b'"thought":"lost' not in data:
            deliver(self, user, subject, data, headers)  # type: ignore[arg-type]

    monkeypatch.setattr(Hub, "_deliver", lossy)


@pytest.mark.usefixtures("lossy_live_path")
@pytest.mark.parametrize("live_subscription", ["all", "per_user"])
async def test_an_event_lost_on_the_live_path_arrives_from_the_stream_before_the_next(
    start_gateway, nc: NATS, sign: Sign, user_id: str, live_subscription: str
) -> None:
    gateway = await start_gateway(LIVE_SUBSCRIPTION=live_subscription)
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "ping"}')
        await recv_json(ws)
        stored = await publish(nc, user_id, "first", "lost one", "lost two", "after")
        frames = await recv_through(ws, lambda f: f.get("seq") == stored[-1])

    assert seqs(frames) == stored
    assert [f["data"]["thought"] for f in frames] == ["first", "lost one", "lost two", "after"]


@pytest.mark.usefixtures("lossy_live_path")
async def test_a_repair_also_works_for_a_socket_that_resumed(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    [first] = await publish(nc, user_id, "first")
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id), after_seq=first) as ws:
        assert await recv_json(ws) == {"type": "caught_up", "last_seq": first}
        stored = await publish(nc, user_id, "lost", "after")
        frames = await recv_through(ws, lambda f: f.get("seq") == stored[-1])

    assert seqs(frames) == stored


@pytest.mark.parametrize("live_subscription", ["all", "per_user"])
async def test_events_stored_while_the_gateways_nats_connection_was_down_arrive_after_it(
    start_gateway,
    nats_proxy: tuple[NatsProxy, str],
    nc: NATS,
    sign: Sign,
    user_id: str,
    live_subscription: str,
) -> None:
    proxy, proxied_url = nats_proxy
    gateway = await start_gateway(NATS_URL=proxied_url, LIVE_SUBSCRIPTION=live_subscription)
    gateway_nats = gateway.server.node.nc
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "ping"}')
        await recv_json(ws)
        before = await publish(nc, user_id, "before")
        assert (await recv_json(ws))["seq"] == before[0]

        proxy.cut()
        await eventually(lambda: not gateway_nats.is_connected)
        during = await publish(nc, user_id, "during 1", "during 2", "during 3")
        proxy.restore()
        frames = await recv_through(ws, lambda f: f.get("seq") == during[-1], within=20)
        after = await publish(nc, user_id, "after")
        next_frame = await recv_json(ws)

    assert seqs(frames) == during  # no later event revealed the gap: the reconnect did
    assert next_frame["seq"] == after[0]
