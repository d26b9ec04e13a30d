"""The tool runner on a real nats-server: cancels from any caller, heartbeats to the caller."""

from __future__ import annotations

import asyncio
import uuid

import nats
import pytest
from nats.aio.msg import Msg

from shared import subjects
from shared.wire.tools import ToolCallFailed, ToolCallSucceeded, decode_tool_reply, encode
from tests.component.tools.conftest import StartRunner, UserEvents, request_when_served
from tests.component.tools.test_tool_runner import call, make_request

Client = nats.aio.client.Client


async def test_a_cancel_stops_the_call_and_is_answered_once_tool_completed_is_stored(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner()
    call_id = uuid.uuid4().hex
    calling = asyncio.create_task(
        call(nc, "sleepy", user_id, tool_call_id=call_id, parameters={"seconds": 30})
    )
    _, executing = await events.next()
    assert executing["type"] == "tool_executing"

    await nc.request(subjects.tool_control_cancel(call_id), b"", timeout=5)

    _, completed = await events.next()  # stored before the cancel was answered
    assert completed["data"]["error"]["code"] == "cancelled"
    reply = await asyncio.wait_for(calling, timeout=5)
    assert isinstance(reply, ToolCallFailed) and reply.code == "cancelled"


async def test_a_cancel_for_a_call_no_runner_holds_gets_no_answer_and_the_call_never_runs(
    start_runner: StartRunner, nc: Client, user_id: str
) -> None:
    await start_runner()
    call_id = uuid.uuid4().hex

    with pytest.raises(nats.errors.TimeoutError):
        await nc.request(subjects.tool_control_cancel(call_id), b"", timeout=0.5)
    reply = await call(nc, "estimate_savings", user_id, tool_call_id=call_id)

    assert isinstance(reply, ToolCallFailed) and reply.code == "cancelled"
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM, subjects_filter="user.>")
    assert subjects.user_events(user_id) not in (info.state.subjects or {})


async def test_a_call_heartbeats_to_its_caller_while_it_runs(
    start_runner: StartRunner, nc: Client, user_id: str
) -> None:
    await start_runner(TOOL_HEARTBEAT_INTERVAL_S="0.1")
    call_id = uuid.uuid4().hex
    beats: list[bytes] = []

    async def on_beat(msg: Msg) -> None:
        beats.append(msg.data)

    await nc.subscribe(subjects.tool_heartbeat(call_id), cb=on_beat)
    request = make_request("sleepy", user_id, tool_call_id=call_id, parameters={"seconds": 1})
    msg = await request_when_served(nc, subjects.tool_call("sleepy"), encode(request))

    assert isinstance(decode_tool_reply(msg.data), ToolCallSucceeded)
    assert len(beats) >= 5 and beats[-1] == b"running"
