"""Many gateways on one NATS: every tab of a user sees the same events, and a client told to
reconnect by a stopping gateway resumes on another without losing one."""

from __future__ import annotations

import asyncio
import json

import pytest
from nats.aio.client import Client as NATS
from websockets.exceptions import ConnectionClosed

from services.ws_gateway.node import RESTART_REASON
from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import (
    FakeAgent,
    Sign,
    publish,
    recv_json,
    recv_through,
    recv_until,
    seqs,
)


async def test_two_tabs_of_one_user_on_two_gateways_see_identical_event_lists(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str
) -> None:
    agent.thoughts = 5
    one, two = await start_gateway(), await start_gateway()
    async with (
        await one.connect(sign(user_id)) as tab_one,
        await two.connect(sign(user_id)) as tab_two,
    ):
        for tab in (tab_one, tab_two):
            await tab.send('{"type": "ping"}')
            await recv_json(tab)
        await tab_one.send(json.dumps({"type": "message", "content": "cpu over 24h"}))
        seen_one = await recv_until(tab_one, "agent_completed")
        seen_two = await recv_until(tab_two, "agent_completed")

    assert seen_one[0]["type"] == "run_accepted"  # the sender's answer, on the sender's tab
    assert seen_two == seen_one[1:]  # the same events, seq for seq, byte for byte
    assert len(seqs(seen_two)) == 7


async def test_a_client_told_4000_resumes_on_another_gateway_and_loses_nothing(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    leaving, staying = await start_gateway(), await start_gateway()
    async with await leaving.connect(sign(user_id)) as ws:
        await ws.send('{"type": "ping"}')
        await recv_json(ws)
        before = await publish(nc, user_id, *(f"before {i}" for i in range(10)))
        first = await recv_through(ws, lambda f: f.get("seq") == before[-1])
        stopping = asyncio.create_task(leaving.stop())  # a rolling restart
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws, within=10)
    await stopping
    away = await publish(nc, user_id, *(f"away {i}" for i in range(10)))
    async with await staying.connect(sign(user_id), after_seq=seqs(first)[-1]) as ws:
        # More events race the resume: some land in the replay, some come live.
        racing = asyncio.create_task(publish(nc, user_id, *(f"racing {i}" for i in range(10))))
        second = await recv_through(ws, lambda f: f["type"] == "caught_up")
        last = (await racing)[-1]
        if seqs(second)[-1] != last:
            second += await recv_through(ws, lambda f: f.get("seq") == last)

    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        CloseCode.SERVER_RESTART,
        RESTART_REASON,
    )
    assert seqs(first) == before
    assert seqs(second) == [*away, *await racing]  # nothing lost, nothing twice, in order
