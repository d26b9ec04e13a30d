"""A run's events reach the right sockets, in order, after run_accepted."""

from __future__ import annotations

import json

import pytest

from tests.component.ws_gateway.conftest import (
    FakeAgent,
    Sign,
    eventually,
    recv_json,
    recv_until,
)

RUN_TYPES = ["agent_started", "agent_thinking", "agent_thinking", "agent_completed"]


def _message(content: str = "analyse my infra", **extra: str) -> str:
    return json.dumps({"type": "message", "content": content, **extra})


async def test_client_gets_run_accepted_then_the_runs_events_with_rising_seq(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(_message(client_msg_id="m-1"))
        frames = await recv_until(ws, "agent_completed")

    accepted, *run = frames
    assert accepted["type"] == "run_accepted" and accepted["client_msg_id"] == "m-1"
    assert [f["type"] for f in run] == RUN_TYPES
    assert all(f["run_id"] == accepted["run_id"] for f in run)
    seqs = [f["seq"] for f in run]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert agent.requests[0].user_id == user_id


async def test_the_user_id_comes_from_the_token_not_the_frame(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(_message(user_id="victim"))
        await recv_until(ws, "agent_completed")

    assert [r.user_id for r in agent.requests] == [user_id]


@pytest.mark.parametrize("live_subscription", ["all", "per_user"])
async def test_every_socket_of_a_user_gets_every_event(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str, live_subscription: str
) -> None:
    gateway = await start_gateway(LIVE_SUBSCRIPTION=live_subscription)
    async with (
        await gateway.connect(sign(user_id)) as tab1,
        await gateway.connect(sign(user_id)) as tab2,
    ):
        await tab1.send(_message())
        seen1 = await recv_until(tab1, "agent_completed")
        seen2 = await recv_until(tab2, "agent_completed")

    assert [f["type"] for f in seen1] == ["run_accepted", *RUN_TYPES]
    assert seen2 == seen1[1:]  # the same events, byte for byte; run_accepted is the sender's
    # Both tabs left, and the user's subscription went with them.
    await eventually(lambda: len(gateway.server.node.hub) == 0)


@pytest.mark.parametrize("live_subscription", ["all", "per_user"])
async def test_another_users_socket_gets_none_of_the_events(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str, live_subscription: str
) -> None:
    gateway = await start_gateway(LIVE_SUBSCRIPTION=live_subscription)
    async with (
        await gateway.connect(sign(user_id)) as mine,
        await gateway.connect(sign(user_id + "-other")) as theirs,
    ):
        await mine.send(_message())
        await recv_until(mine, "agent_completed")
        await theirs.send('{"type": "ping"}')

        assert await recv_json(theirs) == {"type": "pong"}  # nothing arrived before it


async def test_one_subscription_serves_all_of_a_users_sockets(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with (
        await gateway.connect(sign(user_id)) as tab1,
        await gateway.connect(sign(user_id)) as tab2,
    ):
        await tab1.send('{"type": "ping"}')
        await tab2.send('{"type": "ping"}')
        await recv_json(tab1)
        await recv_json(tab2)
        hub = gateway.server.node.hub

        assert len(hub) == 1
        assert len(list(hub.connections(user_id))) == 2
