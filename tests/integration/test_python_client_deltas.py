"""agentwire_client with ``deltas=True`` against the whole stack: text typed out as it is written,
folded by a Transcript; a drop mid-answer; a snapshot on joining during a run; a finished run read
back with ``run_events``. The analyst types at its default pace, so an answer takes a while."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection

from agentwire_client import (
    STREAM_TYPES,
    Client,
    MessageStatus,
    MessageUpdate,
    RunState,
    RunStatus,
    RunUpdate,
    ToolStatus,
    ToolUpdate,
    Transcript,
    Update,
    login,
    register,
)
from agentwire_client.client import connect_with_header
from devstack.stack import Stack

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
QUESTION = "Why is the api slow this week?"


@pytest.fixture(scope="module")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("deltas-stack")

    def sink(name: str, line: str) -> None:
        with open(Path(data_dir) / f"{name}.log", "a") as out:
            out.write(line + "\n")

    running = Stack(data_dir=data_dir, sink=sink, nats_url=nats_url,
                    extra_env={"THINK_DELAY_S": "0.05"})  # fmt: skip
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def new_token(stack: Stack) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    await register(stack.auth_url, email, PASSWORD)
    return await login(stack.auth_url, email, PASSWORD)


async def until_ended(
    transcript: Transcript, client: Client, run_id: str, timeout_s: float = 30
) -> list[Update]:
    """The updates the client's frames make, through the end of ``run_id``."""
    updates: list[Update] = []
    async with asyncio.timeout(timeout_s):
        async for update in transcript.follow(client):
            updates.append(update)
            if isinstance(update, RunUpdate) and update.run.run_id == run_id and update.run.ended:
                return updates
    raise AssertionError("the client ended before the run did")


def assert_whole(run: RunState) -> None:
    """Every message complete, the answer's text the run's result."""
    assert run.status is RunStatus.COMPLETED
    assert all(m.status is MessageStatus.COMPLETE for m in run.messages.values())
    assert run.answer is not None and run.answer.text == run.result


async def test_a_deltas_client_sees_each_message_type_out_and_end_whole(stack: Stack) -> None:
    transcript = Transcript()
    async with Client(stack.ws_url, await new_token(stack), deltas=True) as client:
        accepted = await client.send(QUESTION)
        updates = await until_ended(transcript, client, accepted["run_id"])

    run = transcript.runs[accepted["run_id"]]
    assert_whole(run)
    assert {m.kind for m in run.messages.values()} == {"thinking", "answer"}
    answer_so_far = [
        u.message.text
        for u in updates
        if isinstance(u, MessageUpdate) and u.message is run.answer and u.delta
    ]
    assert len(answer_so_far) > 1, "the answer came in pieces"
    assert all(run.result.startswith(text) for text in answer_so_far)  # type: ignore[union-attr]


async def test_a_client_without_deltas_sees_no_streamed_events(stack: Stack) -> None:
    async with Client(stack.ws_url, await new_token(stack)) as client:
        accepted = await client.send(QUESTION)
        seen: list[str] = []
        async with asyncio.timeout(30):
            async for frame in client:
                seen.append(frame["type"])
                if frame["type"] == "agent_completed":
                    break
    assert accepted["run_id"] and not STREAM_TYPES & set(seen)
    assert "run_snapshot" not in seen


class AwayOnReconnect:
    """A connector that keeps the client away a while before its second socket."""

    def __init__(self, away_s: float) -> None:
        self.away_s = away_s
        self.urls: list[str] = []

    async def __call__(self, url: str, token: str) -> ClientConnection:
        self.urls.append(url)
        if len(self.urls) > 1:
            await asyncio.sleep(self.away_s)
        return await connect_with_header(url, token)


async def test_a_deltas_client_dropped_mid_answer_resumes_to_the_whole_text(stack: Stack) -> None:
    connector = AwayOnReconnect(away_s=0.5)
    transcript = Transcript()
    async with Client(stack.ws_url, await new_token(stack), deltas=True, connector=connector) as c:
        accepted = await c.send(QUESTION)
        async with asyncio.timeout(30):
            async for update in transcript.follow(c):
                if isinstance(update, MessageUpdate) and update.message.kind == "answer":
                    if update.delta:
                        break
        await c.reconnect()  # away while the answer goes on
        await until_ended(transcript, c, accepted["run_id"])

    assert "deltas=1" in connector.urls[1] and "after_seq=" in connector.urls[1]
    assert_whole(transcript.runs[accepted["run_id"]])


async def test_a_deltas_client_joining_during_a_run_starts_from_its_snapshot(stack: Stack) -> None:
    token = await new_token(stack)
    async with Client(stack.ws_url, token, deltas=True) as first:
        accepted = await first.send("slow_task seconds=3 steps=6")
        async with asyncio.timeout(20):
            async for frame in first:
                if frame["type"] == "tool_progress":
                    break
        transcript = Transcript()
        async with Client(stack.ws_url, token, deltas=True) as joining:
            snapshot = await anext(aiter(joining))
            assert snapshot["type"] == "run_snapshot" and snapshot["run_id"] == accepted["run_id"]
            assert joining.last_seq == snapshot["upto_seq"]
            transcript.apply(snapshot)
            run = transcript.runs[accepted["run_id"]]
            assert run.status is RunStatus.RUNNING
            assert [t.status for t in run.tools.values()] == [ToolStatus.RUNNING]
            updates = await until_ended(transcript, joining, accepted["run_id"])

    (tool,) = run.tools.values()
    assert tool.status is ToolStatus.COMPLETED and tool.result == {"steps": 6, "seconds": 3}
    assert any(isinstance(u, ToolUpdate) and u.tool.progress for u in updates)
    assert_whole(run)


async def test_run_events_reads_a_finished_run_back_as_it_was_seen_live(stack: Stack) -> None:
    live = Transcript()
    async with Client(stack.ws_url, await new_token(stack), deltas=True) as client:
        accepted = await client.send(QUESTION)
        await until_ended(live, client, accepted["run_id"])
        (listed,) = await client.list_runs(accepted["thread_id"])
        history = await client.run_events(
            accepted["run_id"], after_seq=listed["first_seq"] - 1, upto_seq=listed["last_seq"]
        )

    read_back = Transcript()
    read_back.apply(history)
    (run,) = read_back.runs.values()
    assert_whole(run)
    texts = {m.message_id: (m.kind, m.text) for m in run.messages.values()}
    assert texts == {
        m.message_id: (m.kind, m.text) for m in live.runs[accepted["run_id"]].messages.values()
    }
