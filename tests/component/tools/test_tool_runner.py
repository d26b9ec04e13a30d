"""The tool runner against a real nats-server: what the calling agent and the watching user see."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats
import pytest
from nats.errors import NoRespondersError

from services.tools.__main__ import READY_LINE, serve
from services.tools.settings import ToolsSettings
from shared import subjects
from shared.settings import Env
from shared.wire.tools import (
    ToolCallFailed,
    ToolCallReply,
    ToolCallRequest,
    ToolCallSucceeded,
    decode_tool_catalog,
    decode_tool_reply,
    encode,
)
from tests.component.tools.conftest import (
    StartRunner,
    UserEvents,
    registry_for_tests,
    request_when_served,
)

Client = nats.aio.client.Client


def make_request(tool_name: str, user_id: str, **fields: Any) -> ToolCallRequest:
    defaults: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "thread_id": uuid.uuid4().hex,
        "tool_call_id": uuid.uuid4().hex,
        "parameters": {},
    }
    return ToolCallRequest(user_id=user_id, tool_name=tool_name, **{**defaults, **fields})


async def call(nc: Client, tool_name: str, user_id: str, **fields: Any) -> ToolCallReply:
    request = make_request(tool_name, user_id, **fields)
    reply = await request_when_served(nc, subjects.tool_call(tool_name), encode(request))
    return decode_tool_reply(reply.data)


async def stored_subjects(nc: Client, containing: str) -> dict[str, int]:
    """How many events the EVENTS stream holds per subject, for subjects containing a string."""
    info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM, subjects_filter="user.>")
    return {s: n for s, n in (info.state.subjects or {}).items() if containing in s}


async def test_call_replies_ok_and_the_user_sees_executing_then_completed(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner()
    reply = await call(
        nc,
        "analyze_performance",
        user_id,
        tool_call_id="call-1",
        parameters={"metric": "latency_ms", "period": "7d"},
    )

    assert isinstance(reply, ToolCallSucceeded)
    assert reply.result["services"]["api"]["p99"] >= reply.result["services"]["api"]["p50"]
    seq1, executing = await events.next()
    seq2, completed = await events.next()
    assert (executing["type"], completed["type"]) == ("tool_executing", "tool_completed")
    assert executing["data"]["tool_call_id"] == completed["data"]["tool_call_id"] == "call-1"
    assert executing["data"]["tool_name"] == completed["data"]["tool_name"] == "analyze_performance"
    assert executing["data"]["parameters"] == {
        "metric": "latency_ms",
        "period": "7d",
        "service": None,
    }
    assert completed["data"]["result"] == reply.result
    assert seq1 < seq2
    assert executing["data"]["timestamp"] < completed["data"]["timestamp"]


async def test_invalid_parameters_are_refused_and_nothing_is_published(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner()
    reply = await call(nc, "detect_anomalies", user_id, parameters={"z_threshold": 0})

    assert isinstance(reply, ToolCallFailed) and reply.code == "invalid_parameters"
    assert "z_threshold" in reply.message
    assert await stored_subjects(nc, user_id) == {}
    # The user's next event is the next call's, not a leftover from the refused one.
    await call(nc, "estimate_savings", user_id, tool_call_id="after")
    _, first = await events.next()
    assert first["data"]["tool_call_id"] == "after"


async def test_a_runner_takes_no_call_for_a_tool_it_lacks(
    start_runner: StartRunner, nc: Client, user_id: str
) -> None:
    await start_runner()
    request = make_request("summon_dragons", user_id)
    with pytest.raises(NoRespondersError):  # another runner may have it: this one stays out
        await nc.request(subjects.tool_call("summon_dragons"), encode(request), timeout=2)

    assert await stored_subjects(nc, user_id) == {}


async def test_a_call_naming_another_tool_than_its_subject_is_refused(
    start_runner: StartRunner, nc: Client, user_id: str
) -> None:
    await start_runner()
    request = make_request("summon_dragons", user_id)
    msg = await request_when_served(nc, subjects.tool_call("estimate_savings"), encode(request))
    reply = decode_tool_reply(msg.data)

    assert isinstance(reply, ToolCallFailed) and reply.code == "unknown_tool"
    assert "summon_dragons" in reply.message
    assert await stored_subjects(nc, user_id) == {}


async def test_the_catalog_lists_every_tool_with_its_json_schema(
    start_runner: StartRunner, nc: Client
) -> None:
    await start_runner()
    msg = await request_when_served(nc, subjects.tool_catalog(), b"")
    catalog = {spec.name: spec for spec in decode_tool_catalog(msg.data).tools}

    assert set(catalog) == set(registry_for_tests().names())
    sleepy = catalog["sleepy"]
    assert sleepy.description == "sleeps for `seconds`"
    assert sleepy.parameters["properties"]["seconds"]["type"] == "number"


async def test_tool_that_raises_completes_with_an_error_then_replies_tool_failed(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner()
    reply = await call(nc, "explode", user_id)

    assert isinstance(reply, ToolCallFailed) and reply.code == "tool_failed"
    _, executing = await events.next()
    _, completed = await events.next()
    assert executing["type"] == "tool_executing"
    assert completed["type"] == "tool_completed"
    assert completed["data"]["result"] is None
    assert completed["data"]["error"] == {"code": "tool_failed", "message": reply.message}


async def test_tool_over_the_timeout_completes_with_tool_timeout(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner(TOOL_TIMEOUT_S="0.2")
    reply = await call(nc, "sleepy", user_id, parameters={"seconds": 2})

    assert isinstance(reply, ToolCallFailed) and reply.code == "tool_timeout"
    assert "0.2s" in reply.message
    _, executing = await events.next()
    _, completed = await events.next()
    assert completed["data"]["error"]["code"] == "tool_timeout"
    assert completed["data"]["result"] is None
    assert 0.2 <= completed["data"]["timestamp"] - executing["data"]["timestamp"] < 1.5


@pytest.mark.parametrize("bad", ["{uid}.x", "{uid}>", "{uid}*", "{uid} x"])
async def test_user_id_that_could_address_another_subject_is_refused(
    start_runner: StartRunner, nc: Client, user_id: str, bad: str
) -> None:
    await start_runner()
    reply = await call(nc, "analyze_performance", bad.format(uid=user_id))

    assert isinstance(reply, ToolCallFailed) and reply.code == "invalid_id"
    assert await stored_subjects(nc, user_id) == {}


@pytest.mark.parametrize("field", ["run_id", "thread_id", "tool_call_id"])
async def test_other_ids_that_are_not_subject_tokens_are_refused(
    start_runner: StartRunner, nc: Client, user_id: str, field: str
) -> None:
    await start_runner()
    reply = await call(nc, "analyze_performance", user_id, **{field: "a.b"})

    assert isinstance(reply, ToolCallFailed) and reply.code == "invalid_id"
    assert field in reply.message
    assert await stored_subjects(nc, user_id) == {}


async def test_malformed_request_gets_an_error_reply(start_runner: StartRunner, nc: Client) -> None:
    await start_runner()
    msg = await request_when_served(nc, subjects.tool_call("analyze_performance"), b"{not json")

    reply = decode_tool_reply(msg.data)
    assert isinstance(reply, ToolCallFailed) and reply.code == "invalid_request"


async def test_slow_call_does_not_hold_up_a_quick_one(
    start_runner: StartRunner, nc: Client, user_id: str
) -> None:
    await start_runner()
    slow = asyncio.create_task(call(nc, "sleepy", user_id, parameters={"seconds": 1.0}))
    await asyncio.sleep(0.05)
    quick = await call(nc, "estimate_savings", user_id)

    assert isinstance(quick, ToolCallSucceeded)
    assert not slow.done()
    assert isinstance(await slow, ToolCallSucceeded)


async def test_calls_beyond_the_concurrency_limit_wait_their_turn(
    start_runner: StartRunner, nc: Client, user_id: str
) -> None:
    await start_runner(TOOL_CONCURRENCY="1")
    slow = asyncio.create_task(call(nc, "sleepy", user_id, parameters={"seconds": 0.5}))
    await asyncio.sleep(0.05)
    quick = await call(nc, "estimate_savings", user_id)

    assert isinstance(quick, ToolCallSucceeded)
    assert slow.done()  # the quick call only ran once the slow one had given up its slot


async def test_stopping_finishes_the_calls_in_flight_then_takes_no_more(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    node = await start_runner()
    in_flight = asyncio.create_task(call(nc, "sleepy", user_id, parameters={"seconds": 0.5}))
    _, executing = await events.next()
    assert executing["type"] == "tool_executing"

    await node.stop()

    assert isinstance(await in_flight, ToolCallSucceeded)
    _, completed = await events.next()
    assert completed["type"] == "tool_completed" and "error" not in completed["data"]
    late = encode(make_request("estimate_savings", user_id))
    with pytest.raises((NoRespondersError, nats.errors.TimeoutError)):
        await nc.request(subjects.tool_call("estimate_savings"), late, timeout=1)


async def test_serve_announces_readiness_and_returns_once_stopped(
    nats_url: str, nc: Client, user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = asyncio.Event()
    settings = ToolsSettings.from_env(Env({"NATS_URL": nats_url}))
    serving = asyncio.create_task(serve(settings, stop, registry_for_tests()))
    await asyncio.wait_for(_ready(capsys), timeout=10)

    assert isinstance(await call(nc, "detect_anomalies", user_id), ToolCallSucceeded)
    stop.set()
    await asyncio.wait_for(serving, timeout=5)


async def _ready(capsys: pytest.CaptureFixture[str]) -> None:
    out = ""
    while READY_LINE not in out:
        await asyncio.sleep(0.02)
        out += capsys.readouterr().out


async def test_a_result_over_the_bus_limit_ends_the_call_result_too_large_for_agent_and_user(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner()

    reply = await call(nc, "huge", user_id, parameters={"megabytes": 2})

    assert isinstance(reply, ToolCallFailed) and reply.code == "result_too_large"
    assert "over the limit" in reply.message
    (_, executing), (_, completed) = await events.next(), await events.next()
    assert executing["type"] == "tool_executing" and completed["type"] == "tool_completed"
    assert completed["data"]["result"] is None
    assert completed["data"]["error"]["code"] == "result_too_large"
    ok = await call(nc, "huge", user_id, parameters={"megabytes": 0.01})  # a fitting one
    assert isinstance(ok, ToolCallSucceeded)


async def test_a_user_watches_slow_task_progress_between_its_two_events(
    start_runner: StartRunner, nc: Client, events: UserEvents, user_id: str
) -> None:
    await start_runner(PROGRESS_FLUSH_MS="50")

    reply = await call(nc, "slow_task", user_id, parameters={"seconds": 0.6, "steps": 6})

    assert isinstance(reply, ToolCallSucceeded)
    seq1, executing = await events.next()
    seq2, completed = await events.next()
    assert (executing["type"], completed["type"]) == ("tool_executing", "tool_completed")
    progress = events.progress
    assert len(progress) >= 3  # about one per step (100 ms apart, over the 50 ms flush)
    assert all(seq1 < seq < seq2 for seq, _ in progress)
    fractions = [event["data"]["progress"] for _, event in progress]
    assert fractions == sorted(fractions) and fractions[0] == pytest.approx(1 / 6)
    assert progress[0][1]["data"]["message"] == "step 1 of 6"
    assert {event["data"]["tool_call_id"] for _, event in progress} == {
        executing["data"]["tool_call_id"]
    }
    with pytest.raises(nats.errors.TimeoutError):
        await events.next_any()  # nothing after tool_completed
