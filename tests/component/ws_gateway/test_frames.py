"""Client frames over a real socket: errors keep the socket usable; pings never wait on runs."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed

from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import FakeAgent, Sign, recv_json

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


async def test_no_agent_gives_no_agent_available_and_the_socket_still_answers_ping(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        started = time.monotonic()
        await ws.send(json.dumps({"type": "message", "content": "anyone there?"}))
        error = await recv_json(ws)
        waited = time.monotonic() - started
        await ws.send(PING)

        assert error["data"]["code"] == "no_agent_available"
        assert "try again" in error["data"]["message"]
        assert waited < 3
        assert await recv_json(ws) == {"type": "pong"}


async def test_ping_is_answered_while_a_submission_waits_for_a_silent_agent(
    start_gateway, agent: FakeAgent, sign: Sign, user_id: str
) -> None:
    agent.answer = False
    gateway = await start_gateway(SUBMIT_TIMEOUT_S="1")
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "hello?"}))
        await ws.send(PING)

        assert await recv_json(ws, within=0.5) == {"type": "pong"}
        error = await recv_json(ws, within=3)
        assert error["data"]["code"] == "no_agent_available"
