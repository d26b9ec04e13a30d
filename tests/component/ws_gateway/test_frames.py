"""Client frames over a real socket: errors keep the socket usable; pings never wait on runs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from nats.aio.client import Client as NATS
from websockets.exceptions import ConnectionClosed

from shared import subjects
from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import (
    FakeAgent,
    Sign,
    publish,
    recv_json,
    recv_until,
)

PING = '{"type": "ping"}'


async def test_bad_frames_get_error_frames_and_the_socket_stays_usable(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        codes = []
        for bad in [
            "{nope",
            "[1]",
            '{"type": "dance"}',
            '{"type": "message"}',
            json.dumps({"type": "message", "content": "x", "thread_id": "a>b"}),
            json.dumps({"type": "message", "content": "x", "thread_id": "*"}),
        ]:
            await ws.send(bad)
            codes.append((await recv_json(ws))["data"]["code"])
        await ws.send(PING)

        assert await recv_json(ws) == {"type": "pong"}
    assert codes == [
        "invalid_json",
        "invalid_frame",
        "unknown_type",
        "invalid_frame",
        "invalid_id",
        "invalid_id",
    ]


async def test_frame_over_max_frame_bytes_gets_frame_too_large(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(MAX_FRAME_BYTES="1000")
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "x" * 2000}))
        error = await recv_json(ws)
        await ws.send(PING)

        assert error["data"]["code"] == "frame_too_large"
        assert await recv_json(ws) == {"type": "pong"}


async def test_message_over_the_transport_limit_closes_with_1009(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(MAX_FRAME_BYTES="1000", MAX_MESSAGE_BYTES="4000")
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send("x" * 5000)
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CloseCode.MESSAGE_TOO_BIG


async def test_with_no_agent_running_a_message_is_accepted_and_runs_once_one_starts(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        started = time.monotonic()
        await ws.send(json.dumps({"type": "message", "content": "anyone there?"}))
        accepted = await recv_json(ws)
        waited = time.monotonic() - started
        await ws.send(PING)
        assert await recv_json(ws) == {"type": "pong"}
        agent = await FakeAgent(nc).start()
        try:
            frames = await recv_until(ws, "agent_completed")
        finally:
            await agent.stop()

    assert accepted["type"] == "run_accepted" and accepted["state"] == "queued"
    assert waited < 3  # stored, not waiting for an agent
    assert {f["run_id"] for f in frames} == {accepted["run_id"]}
    assert [r.run_id for r in agent.requests] == [accepted["run_id"]]


async def test_when_nats_cannot_store_a_message_the_user_is_told_and_nothing_runs(
    start_gateway, agent: FakeAgent, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(SUBMIT_TIMEOUT_S="1")
    await nc.jetstream().delete_stream(subjects.RUNS_STREAM)  # nowhere to store it
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "hello?"}))
        await ws.send(PING)

        assert await recv_json(ws, within=0.5) == {"type": "pong"}  # not blocked meanwhile
        error = await recv_json(ws, within=3)
        assert error["data"]["code"] == "intake_unavailable"
        assert "will not run" in error["data"]["message"]
        await asyncio.sleep(0.3)
        assert agent.requests == []


async def test_run_accepted_says_how_many_runs_wait_ahead_while_no_agent_takes_work(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str
) -> None:
    agent.answer = False  # the agents' consumer exists, and nobody pulls from it
    await asyncio.sleep(0.6)  # a pull already asked for expires (the reader asks for 0.5 s)
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        accepted = []
        for n in range(3):
            await ws.send(json.dumps({"type": "message", "content": f"question {n}"}))
            accepted.append(await recv_json(ws))
        agent.answer = True
        await recv_until(ws, "agent_completed")

    assert [(a["state"], a["ahead"]) for a in accepted] == [
        ("queued", 0),
        ("queued", 1),
        ("queued", 2),
    ]


async def test_a_socket_that_drops_while_its_run_waits_resumes_from_run_accepted_and_misses_nothing(
    start_gateway, agent: FakeAgent, nc: NATS, sign: Sign, user_id: str
) -> None:
    agent.answer = False  # the run waits in the queue: no event reaches the socket meanwhile
    await asyncio.sleep(0.6)  # a pull already asked for expires (the reader asks for 0.5 s)
    [older] = await publish(nc, user_id, "an event from before this socket")
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:  # live only: no position of its own
        await ws.send(json.dumps({"type": "message", "content": "queued"}))
        accepted = await recv_json(ws)
    agent.answer = True  # the run happens while the socket is away
    for _ in range(500):  # until the agent has taken it in
        if agent.requests:
            break
        await asyncio.sleep(0.01)
    async with await gateway.connect(sign(user_id), after_seq=accepted["last_seq"]) as ws:
        frames = await recv_until(ws, "agent_completed")

    assert accepted["type"] == "run_accepted" and accepted["last_seq"] == older
    run = [f for f in frames if f.get("run_id") == accepted["run_id"]]
    assert [f["type"] for f in run] == [  # from agent_started on: nothing missed
        "agent_started",
        "agent_thinking",
        "agent_thinking",
        "agent_completed",
    ]
