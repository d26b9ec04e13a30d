"""Streamed thoughts and answers end to end: the real analyst, gateway, tool runner and NATS.

What users see, with hundreds at once:

- a ``deltas=1`` socket gets every thought and the answer as deltas that join to exactly the
  whole text its completing event carries, and slow tools report progress between their two
  events;
- a user whose connection drops mid-answer and resumes gets the whole text once;
- a socket that did not ask for deltas sees the old stream: the five events, whole;
- a finished run can be read back whole (``runs`` → ``run_events``).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from devstack.stack import Stack
from shared.wire.events import TERMINAL_TYPES
from tests.integration.client import connect, ring_token, send
from tests.integration.conftest import running_stack

pytestmark = pytest.mark.integration

Frame = dict[str, Any]
CROWD = 200
ASK = "Why is the api slow this week?"
OLD_STREAM = {
    "agent_started",
    "agent_thinking",
    "tool_executing",
    "tool_completed",
    "agent_completed",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Typed fast enough for a quick suite, yet slowly enough that every text takes many deltas.
    yield from running_stack(tmp_path_factory, "streaming", STREAM_TOKENS_PER_S="400")


@dataclass
class Watcher:
    """One user's socket and everything it received."""

    url: str
    token: str
    frames: list[Frame] = field(default_factory=list)
    ws: websockets.ClientConnection | None = None

    async def open(self, query: str = "deltas=1") -> None:
        self.ws = await connect(f"{self.url}?{query}", self.token, max_queue=None, max_size=None)
        if "deltas=1" in query or "after_seq" in query:  # a snapshot or a replay comes first
            await self.read_until(lambda f: f["type"] == "caught_up")
        else:
            await send(self.ws, {"type": "ping"})
            await self.read_until(lambda f: f["type"] == "pong")

    async def read_until(self, done: Any, timeout_s: float = 60) -> Frame:
        assert self.ws is not None
        async with asyncio.timeout(timeout_s):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if done(frame):
                    return frame

    @property
    def events(self) -> list[Frame]:
        return [f for f in self.frames if "seq" in f and "run_id" in f]

    @property
    def last_seq(self) -> int:
        return max((f["seq"] for f in self.events), default=0)


def streamed(events: list[Frame], message_id: str) -> str:
    return "".join(
        f["data"]["delta"]
        for f in events
        if f["type"] == "message_delta" and f["data"]["message_id"] == message_id
    )


def assert_whole(events: list[Frame], *, dropped: bool = False) -> None:
    """Every completed message's deltas join to its whole text; one terminal event, last.

    A socket that dropped may have missed deltas of a message completed while it was away: its
    replay gives only the completing event (the whole text), so what it got before is a prefix.
    """
    kinds = [f["type"] for f in events]
    assert kinds[0] == "agent_started", kinds
    assert sum(kind in TERMINAL_TYPES for kind in kinds) == 1 and kinds[-1] in TERMINAL_TYPES
    seqs = [f["seq"] for f in events]
    assert seqs == sorted(set(seqs)), "an event doubled or out of order"
    thoughts = [f for f in events if f["type"] == "agent_thinking"]
    assert thoughts and all(f["data"].get("message_id") for f in thoughts)
    end = events[-1]
    assert end["type"] == "agent_completed", end
    texts = [(f["data"]["message_id"], f["data"]["thought"]) for f in thoughts]
    for message_id, whole in [*texts, (end["data"]["message_id"], end["data"]["result"])]:
        got = streamed(events, message_id)
        if dropped:
            assert whole.startswith(got), (got, whole)
        else:
            assert got == whole
    assert kinds.count("message_delta") > len(thoughts) + 1  # streamed, not whole


async def test_hundreds_of_users_watch_thoughts_and_answers_type_out_and_lose_nothing(
    stack: Stack,
) -> None:
    users = [
        Watcher(stack.ws_url, ring_token(stack, f"s-{uuid.uuid4().hex[:12]}")) for _ in range(CROWD)
    ]
    await asyncio.gather(*(user.open() for user in users))
    droppers = set(random.Random(7).sample(range(CROWD), CROWD // 10))

    async def one(index: int, user: Watcher) -> None:
        assert user.ws is not None
        await send(user.ws, {"type": "message", "content": ASK})
        accepted = await user.read_until(lambda f: f["type"] in ("run_accepted", "error"))
        assert accepted["type"] == "run_accepted", accepted
        if index in droppers:  # the network drops mid-answer; the user resumes where it was
            await user.read_until(lambda f: f["type"] == "message_delta")
            await user.ws.close()
            await user.open(f"deltas=1&after_seq={user.last_seq}")
        await user.read_until(lambda f: f["type"] in TERMINAL_TYPES)
        await user.ws.close()  # type: ignore[union-attr]

    await asyncio.gather(*(one(index, user) for index, user in enumerate(users)))
    for index, user in enumerate(users):
        assert_whole(user.events, dropped=index in droppers)


async def test_a_socket_without_deltas_sees_the_five_events_whole(stack: Stack) -> None:
    user = Watcher(stack.ws_url, ring_token(stack, f"o-{uuid.uuid4().hex[:12]}"))
    await user.open(query="")
    assert user.ws is not None
    await send(user.ws, {"type": "message", "content": ASK})
    await user.read_until(lambda f: f["type"] in TERMINAL_TYPES)
    await user.ws.close()
    assert {f["type"] for f in user.events} == OLD_STREAM
    assert all(f["data"]["thought"] for f in user.events if f["type"] == "agent_thinking")


async def test_a_finished_run_reads_back_whole_from_its_seqs(stack: Stack) -> None:
    user = Watcher(stack.ws_url, ring_token(stack, f"h-{uuid.uuid4().hex[:12]}"))
    await user.open()
    assert user.ws is not None
    await send(user.ws, {"type": "message", "content": ASK})
    accepted = await user.read_until(lambda f: f["type"] == "run_accepted")
    await user.read_until(lambda f: f["type"] in TERMINAL_TYPES)
    live = [f for f in user.events if f["run_id"] == accepted["run_id"]]
    await send(user.ws, {"type": "list_runs", "thread_id": accepted["thread_id"]})
    [run] = (await user.read_until(lambda f: f["type"] == "runs"))["runs"]
    assert run["first_seq"] == live[0]["seq"] and run["last_seq"] == live[-1]["seq"]
    request = {"run_id": run["run_id"], "after_seq": run["first_seq"] - 1}
    await send(user.ws, {"type": "run_events", **request, "upto_seq": run["last_seq"]})
    snapshot = await user.read_until(lambda f: f["type"] == "run_snapshot")
    await user.ws.close()
    whole = [f for f in live if f["type"] not in ("message_started", "message_delta")]
    whole = [f for f in whole if f["type"] != "tool_progress"]
    assert [f["seq"] for f in snapshot["events"]] == [f["seq"] for f in whole]
    assert snapshot["events"][-1]["data"]["result"] == live[-1]["data"]["result"]


async def test_a_slow_tool_reports_progress_between_its_two_events(stack: Stack) -> None:
    user = Watcher(stack.ws_url, ring_token(stack, f"p-{uuid.uuid4().hex[:12]}"))
    await user.open()
    assert user.ws is not None
    await send(user.ws, {"type": "message", "content": "slow_task seconds=1.5 steps=6"})
    await user.read_until(lambda f: f["type"] in TERMINAL_TYPES)
    await user.ws.close()
    kinds = [f["type"] for f in user.events]
    first, last = kinds.index("tool_executing"), kinds.index("tool_completed")
    progress = [f for f in user.events if f["type"] == "tool_progress"]
    assert len(progress) >= 2
    assert all(first < user.events.index(f) < last for f in progress)
    fractions = [f["data"]["progress"] for f in progress]
    assert fractions == sorted(fractions) and 0 < fractions[-1] <= 1
