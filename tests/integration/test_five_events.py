"""End to end: four service processes on a real nats-server, a real WebSocket client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devstack.stack import Stack
from tests.integration.client import connect, new_account, read_run, recv_json, send

pytestmark = pytest.mark.integration

REQUIRED = {
    "agent_started": {"agent_id", "message", "timestamp"},
    "agent_thinking": {"agent_id", "thought", "timestamp"},
    "tool_executing": {"tool_name", "parameters", "timestamp", "tool_call_id"},
    "tool_completed": {"tool_name", "result", "timestamp", "tool_call_id"},
    "agent_completed": {"agent_id", "result", "timestamp"},
}


def assert_well_formed_run(frames: list[dict[str, Any]], run_id: str) -> None:
    """The per-run contract: started first, tool pairs, one terminal event last, seq rising."""
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "agent_started", kinds
    assert kinds[-1] == "agent_completed", frames[-1]
    assert sum(k in {"agent_completed", "agent_failed"} for k in kinds) == 1
    for frame in frames:
        assert frame["run_id"] == run_id
        assert REQUIRED[frame["type"]] <= frame["data"].keys(), frame
        assert isinstance(frame["data"]["timestamp"], float)
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    stamps = [f["data"]["timestamp"] for f in frames]
    assert stamps == sorted(stamps)
    open_calls: dict[str, str] = {}
    for frame in frames:
        if frame["type"] == "tool_executing":
            open_calls[frame["data"]["tool_call_id"]] = frame["data"]["tool_name"]
        elif frame["type"] == "tool_completed":
            assert open_calls.pop(frame["data"]["tool_call_id"]) == frame["data"]["tool_name"]
    assert not open_calls, f"tool calls never completed: {open_calls}"


async def test_user_watches_all_five_events_of_a_run_in_order(stack: Stack) -> None:
    account = await new_account(stack.auth_url)
    async with connect(stack.ws_url, account.token) as ws:
        await send(
            ws,
            {
                "type": "message",
                "content": "Why is the api slow? Check p99 latency over the last 7 days",
            },
        )
        accepted = await recv_json(ws)
        assert accepted["type"] == "run_accepted", accepted
        frames = await read_run(ws)

    assert_well_formed_run(frames, accepted["run_id"])
    kinds = {f["type"] for f in frames}
    assert {
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    } <= kinds
    assert sum(f["type"] == "agent_thinking" for f in frames) >= 2
    tools = [f["data"]["tool_name"] for f in frames if f["type"] == "tool_executing"]
    assert len(tools) >= 2 and tools[0] == "analyze_performance"
    first_result = next(f for f in frames if f["type"] == "tool_completed")["data"]["result"]
    assert first_result["services"], "tool results are computed from the metrics data"
    assert any(ch.isdigit() for ch in frames[-1]["data"]["result"])
    assert "generated sample" in frames[-1]["data"]["result"]


async def test_a_message_outside_the_analysts_scope_is_told_what_it_can_do(stack: Stack) -> None:
    account = await new_account(stack.auth_url)
    async with connect(stack.ws_url, account.token) as ws:
        await send(ws, {"type": "message", "content": "Write me a haiku about cats"})
        accepted = await recv_json(ws)
        frames = await read_run(ws)

    assert_well_formed_run(frames, accepted["run_id"])
    assert not {"tool_executing", "tool_completed"} & {f["type"] for f in frames}
    assert "latency, errors and cost" in frames[-1]["data"]["result"]


async def test_follow_up_in_a_thread_is_answered_in_that_thread(stack: Stack) -> None:
    account = await new_account(stack.auth_url)
    async with connect(stack.ws_url, account.token) as ws:
        await send(ws, {"type": "message", "content": "cpu usage over 30 days"})
        first = await recv_json(ws)
        await read_run(ws)
        await send(
            ws, {"type": "message", "content": "and for the db?", "thread_id": first["thread_id"]}
        )
        second = await recv_json(ws)
        frames = await read_run(ws)
    assert second["type"] == "run_accepted"
    assert second["thread_id"] == first["thread_id"] and second["run_id"] != first["run_id"]
    assert_well_formed_run(frames, second["run_id"])


async def test_twenty_users_at_once_each_see_only_their_own_events(stack: Stack) -> None:
    accounts = await asyncio.gather(*(new_account(stack.auth_url) for _ in range(20)))

    async def one_user(token: str) -> tuple[str, list[dict[str, Any]]]:
        async with connect(stack.ws_url, token) as ws:
            await send(ws, {"type": "message", "content": "find latency anomalies in the last 24h"})
            accepted = await recv_json(ws)
            assert accepted["type"] == "run_accepted", accepted
            frames = await read_run(ws, timeout_s=60)
            # Anything foreign that arrives just after the run must show up too.
            try:
                frames.append(await recv_json(ws, timeout_s=0.3))
            except TimeoutError:
                pass
            return accepted["run_id"], frames

    results = await asyncio.gather(*(one_user(a.token) for a in accounts))
    run_ids = {run_id for run_id, _ in results}
    assert len(run_ids) == 20
    for run_id, frames in results:
        assert {f["run_id"] for f in frames} == {run_id}, "a foreign event reached this user"
        assert_well_formed_run(frames, run_id)
