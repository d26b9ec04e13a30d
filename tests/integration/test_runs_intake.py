"""The durable intake end to end: real processes, real sockets, every accepted message ends once.

Each test speaks to the gateway the way a browser does (one WebSocket per user, ``message``,
``cancel``, ``?after_seq=`` on reconnect) and judges only what the users see:

- a crowd sending at the same instant is answered ``run_accepted`` first, never ``error``, and
  every run ends with exactly one terminal event, its last;
- the only agent killed -9 mid-burst loses nothing and runs nothing twice: the runs it held end
  ``agent_failed`` ``agent_lost``, the rest complete on the agent started in its place;
- a message resent (at once, and after a reconnect) is one run;
- a run cancelled while its message waits in the queue never starts work;
- an agent left idle (its pulls for work coming back empty) still takes the next message.

Tokens are signed with the stack's own key ring, as the auth service signs them (see
``test_security_isolation``): hundreds of argon2 registrations would cost most of the time budget
and prove nothing the auth tests do not.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets

from devstack.stack import Stack
from services.agent.closing import NEVER_STARTED
from shared.wire.events import EVENT_TYPES, TERMINAL_TYPES
from tests.integration.client import connect, ring_token, send
from tests.integration.conftest import LogSink

pytestmark = pytest.mark.integration

Frame = dict[str, Any]
CROWD = 300
ASK = "Why is the api slow this week?"
IDLE_S = 16.0  # eight of the agent's empty pulls for work (2 s each)
NOISE = frozenset({"pong", "caught_up", "heartbeat"})  # where a socket stands, not what happened
# Short enough for a killed agent's messages and runs to come back well inside a test's budget.
FAST_RECOVERY = {"INTAKE_ACK_WAIT_S": "3", "RUN_LEASE_S": "3", "AGENT_SHUTDOWN_GRACE_S": "1"}


def start_stack(data_dir: Path, **env: str) -> Stack:
    extra = {
        "THINK_DELAY_S": "0",
        "STREAM_TOKENS_PER_S": "0",
        "LOG_LEVEL": "INFO",
        **FAST_RECOVERY,
        **env,
    }
    return Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra).start(timeout_s=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("intake"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def one_slot_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One agent with one slot: a second run has to wait in the queue."""
    running = start_stack(tmp_path_factory.mktemp("one-slot"), AGENT_MAX_CONCURRENT_RUNS="1")
    try:
        yield running
    finally:
        running.stop()


@dataclass
class User:
    """One user's sockets (one at a time) and every frame they received, in arrival order.

    ``pong``, ``caught_up`` and ``heartbeat`` only say where a socket stands: they are counted
    in ``noise``, not kept in ``frames``."""

    user_id: str
    token: str
    ws: websockets.ClientConnection | None = None
    frames: list[Frame] = field(default_factory=list)
    noise: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> list[Frame]:
        return [f for f in self.frames if f["type"] in EVENT_TYPES]

    @property
    def last_seq(self) -> int:
        return max((f["seq"] for f in self.events), default=0)

    def ended(self, run_id: str | None = None) -> bool:
        return any(
            f["type"] in TERMINAL_TYPES and run_id in (None, f["run_id"]) for f in self.events
        )

    def count(self, kind: str) -> int:
        return self.noise[kind] + sum(f["type"] == kind for f in self.frames)

    async def open(self, ws_url: str, after_seq: int | None = None) -> None:
        """Connect (resuming after ``after_seq``) and wait until the socket is served."""
        url = ws_url if after_seq is None else f"{ws_url}?after_seq={after_seq}"
        self.ws = await connect(url, self.token, max_queue=None)
        pongs = self.noise["pong"]
        await send(self.ws, {"type": "ping"})
        assert await self.read_until(lambda u: u.noise["pong"] > pongs, 10), self.frames

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def read_until(self, done: Callable[[User], bool], timeout_s: float) -> bool:
        """Read frames until ``done(self)``; False if the time ran out (or the socket closed)."""
        assert self.ws is not None
        try:
            async with asyncio.timeout(timeout_s):
                while not done(self):
                    frame = json.loads(await self.ws.recv())
                    if frame["type"] in NOISE:
                        self.noise[frame["type"]] += 1
                    else:
                        self.frames.append(frame)
        except (TimeoutError, websockets.ConnectionClosed):
            return False
        return True

    async def read_for(self, seconds: float) -> None:
        """Whatever arrives in the next ``seconds`` (after a run's end: there should be none)."""
        await self.read_until(lambda _: False, seconds)


def accepted(count: int) -> Callable[[User], bool]:
    return lambda user: user.count("run_accepted") >= count


def new_users(stack: Stack, count: int, prefix: str) -> list[User]:
    ids = [f"{prefix}-{uuid.uuid4().hex[:16]}" for _ in range(count)]
    return [User(user_id, ring_token(stack, user_id)) for user_id in ids]


async def open_all(users: list[User], ws_url: str) -> None:
    limit = asyncio.Semaphore(50)

    async def open_one(user: User) -> None:
        async with limit:
            await user.open(ws_url)

    await asyncio.gather(*(open_one(user) for user in users))


async def close_all(users: list[User]) -> None:
    await asyncio.gather(*(user.close() for user in users), return_exceptions=True)


def one_run_problems(user: User) -> list[str]:
    """What is wrong with a user's frames after sending one message; [] when nothing is."""
    frames = user.frames
    if not frames or frames[0]["type"] != "run_accepted":
        return [f"{user.user_id}: first frame is {frames[:1]}, not run_accepted"]
    run_id = frames[0]["run_id"]
    problems = [f"{user.user_id}: {f}" for f in frames if f["type"] == "error"]
    foreign = [f for f in user.events if f["run_id"] != run_id]
    problems += [f"{user.user_id}: foreign event {f['type']} of {f['run_id']}" for f in foreign]
    types = [f["type"] for f in user.events if f["run_id"] == run_id]
    if not types or types[0] != "agent_started" or types.count("agent_started") != 1:
        problems.append(f"{user.user_id}: run {run_id} does not start once, first: {types}")
    if sum(t in TERMINAL_TYPES for t in types) != 1 or types[-1] not in TERMINAL_TYPES:
        problems.append(f"{user.user_id}: run {run_id} does not end once, last: {types}")
    return problems


async def until_ended(users: list[User], count: int, timeout_s: float) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if sum(user.ended() for user in users) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} runs ended in {timeout_s} s")


def ran_twice_problems(users: list[User]) -> list[str]:
    """What would show a run worked on twice (its agent_started and terminal event carry fixed
    ids, so the stream would keep one copy of each): a tool called again, an unpaired tool
    call, or more steps than the same message took for everyone else."""
    problems: list[str] = []
    completed: Counter[tuple[str, ...]] = Counter()
    for user in users:
        mine = [f for f in user.events if f["run_id"] == run_of(user)]
        calls = [f["data"] for f in mine if f["type"] == "tool_executing"]
        ends = [f["data"]["tool_call_id"] for f in mine if f["type"] == "tool_completed"]
        if len({c["tool_name"] for c in calls}) != len(calls):
            problems.append(f"{user.user_id}: a tool called twice: {calls}")
        if sorted(c["tool_call_id"] for c in calls) != sorted(ends):
            problems.append(f"{user.user_id}: unpaired tool calls: {calls} / {ends}")
        if mine[-1]["type"] == "agent_completed":
            completed[tuple(f["type"] for f in mine)] += 1
    if len(completed) > 1:
        problems.append(f"the same message took different steps: {completed}")
    return problems


def run_of(user: User) -> str:
    return str(user.frames[0]["run_id"])


def terminal_of(user: User) -> Frame:
    return next(f for f in user.events if f["type"] in TERMINAL_TYPES)


async def test_300_users_sending_at_once_each_get_run_accepted_then_one_ending_of_their_own(
    stack: Stack,
) -> None:
    users = new_users(stack, CROWD, "crowd")
    await open_all(users, stack.ws_url)
    try:
        await asyncio.gather(*(send(u.ws, {"type": "message", "content": ASK}) for u in users))
        await asyncio.gather(*(u.read_until(User.ended, timeout_s=45) for u in users))
        await asyncio.gather(*(u.read_for(0.5) for u in users))  # nothing after the end
    finally:
        await close_all(users)

    problems = [p for u in users for p in one_run_problems(u)] or ran_twice_problems(users)
    assert problems == [], f"{len(problems)} problems, first: {problems[:10]}"
    assert len({run_of(u) for u in users}) == CROWD
    assert Counter(terminal_of(u)["type"] for u in users) == {"agent_completed": CROWD}


async def test_the_only_agent_killed_mid_burst_loses_no_message_and_runs_none_twice(
    stack: Stack,
) -> None:
    users = new_users(stack, CROWD, "kill")
    await open_all(users, stack.ws_url)
    agent = stack.services["agent"]
    try:
        await asyncio.gather(*(send(u.ws, {"type": "message", "content": ASK}) for u in users))
        readers = [asyncio.create_task(u.read_until(User.ended, timeout_s=55)) for u in users]
        await until_ended(users, CROWD // 5, timeout_s=30)  # well into the burst
        ended_before = sum(u.ended() for u in users)
        killed_at = time.time()
        await asyncio.to_thread(agent.kill)
        replacement = await asyncio.to_thread(stack.restart_service, "agent")
        await asyncio.to_thread(replacement.wait_ready, 60)
        await asyncio.gather(*readers)
        await asyncio.gather(*(u.read_for(0.5) for u in users))
    finally:
        await close_all(users)

    problems = [p for u in users for p in one_run_problems(u)] or ran_twice_problems(users)
    assert problems == [], f"{len(problems)} problems, first: {problems[:10]}"
    assert ended_before < CROWD, "the burst was over before the kill"
    endings = Counter((terminal_of(u)["type"], terminal_of(u)["data"].get("code")) for u in users)
    assert set(endings) <= {("agent_completed", None), ("agent_failed", "agent_lost")}, endings
    for user in users:  # lost: only a run the killed agent held (started it, or recorded it)
        if terminal_of(user)["type"] == "agent_failed":
            started = user.events[0]["data"]
            assert started["timestamp"] < killed_at or started["message"] == NEVER_STARTED
    assert endings[("agent_failed", "agent_lost")] > 0, "the kill found no run in the agent"
    assert endings[("agent_completed", None)] > ended_before  # the replacement took the rest


async def test_a_message_resent_at_once_and_after_a_reconnect_is_one_run(stack: Stack) -> None:
    users = new_users(stack, 50, "resend")
    message = {"type": "message", "content": "slow_task seconds=2 steps=4", "client_msg_id": "m-1"}
    await open_all(users, stack.ws_url)
    try:
        # Twice at once, on the same socket.
        await asyncio.gather(*(send(u.ws, message) for u in users for _ in range(2)))
        assert all(await asyncio.gather(*(u.read_until(accepted(2), 20) for u in users)))
        # Gone mid-run, back where it left off, and the same message once more.
        await close_all(users)
        await asyncio.gather(*(u.open(stack.ws_url, after_seq=u.last_seq) for u in users))
        await asyncio.gather(*(send(u.ws, message) for u in users))
        assert all(await asyncio.gather(*(u.read_until(accepted(3), 20) for u in users)))
        assert all(await asyncio.gather(*(u.read_until(User.ended, 20) for u in users)))
        # Once more after the run has ended.
        await asyncio.gather(*(send(u.ws, message) for u in users))
        assert all(await asyncio.gather(*(u.read_until(accepted(4), 20) for u in users)))
        await asyncio.gather(*(u.read_for(1.0) for u in users))
    finally:
        await close_all(users)

    for user in users:
        answers = [f for f in user.frames if f["type"] not in EVENT_TYPES]
        assert [f["type"] for f in answers] == ["run_accepted"] * 4, answers
        assert {(f["run_id"], f["thread_id"], f.get("client_msg_id")) for f in answers} == {
            (answers[0]["run_id"], answers[0]["thread_id"], "m-1")
        }
        assert_one_run(user.events, answers[0]["run_id"])
        stored = await replayed_events(stack, user)  # everything the user's stream holds
        assert_one_run(stored, answers[0]["run_id"])


async def test_an_agent_idle_for_a_while_still_takes_the_next_message(stack: Stack) -> None:
    (user,) = new_users(stack, 1, "after-idle")
    await asyncio.sleep(IDLE_S)  # the agent's pull for work comes back empty, again and again
    await user.open(stack.ws_url)
    try:
        await send(user.ws, {"type": "message", "content": ASK})
        ended = await user.read_until(User.ended, timeout_s=15)
    finally:
        await user.close()

    assert ended, f"no agent took the message in 15 s; the user got {user.frames}"
    assert one_run_problems(user) == []


async def test_a_run_cancelled_while_its_message_waits_in_the_queue_never_starts_work(
    one_slot_stack: Stack,
) -> None:
    stack = one_slot_stack
    (user,) = new_users(stack, 1, "cancel-queued")
    await user.open(stack.ws_url)
    try:
        await send(user.ws, {"type": "message", "content": "slow_task seconds=30 steps=30"})
        assert await user.read_until(lambda u: u.count("tool_executing") > 0, 20), user.frames
        holder = run_of(user)  # it holds the agent's only slot
        await send(user.ws, {"type": "message", "content": ASK})  # a new thread of its own
        assert await user.read_until(accepted(2), 10), user.frames
        waiting = [f for f in user.frames if f["type"] == "run_accepted"][1]
        assert waiting["state"] == "queued", waiting

        await send(user.ws, {"type": "cancel", "run_id": waiting["run_id"]})
        assert await user.read_until(lambda u: u.ended(waiting["run_id"]), 10), user.frames
        await send(user.ws, {"type": "cancel", "run_id": holder})
        assert await user.read_until(lambda u: u.ended(holder), 15), user.frames
        await user.read_for(2.0)  # the freed slot takes the cancelled message: it must not run
    finally:
        await user.close()

    mine = [f for f in user.events if f["run_id"] == waiting["run_id"]]
    assert [f["type"] for f in mine] == ["agent_started", "agent_cancelled"], mine
    assert mine[0]["data"]["message"] == NEVER_STARTED
    assert user.count("error") == 0, user.frames
    assert user.count("cancel_accepted") == 2, user.frames
    held = [f["type"] for f in user.events if f["run_id"] == holder]
    assert held[0] == "agent_started" and held[-1] == "agent_cancelled", held


def assert_one_run(events: list[Frame], run_id: str) -> None:
    """The events are one run's, started once, ended once, the end last."""
    assert {f["run_id"] for f in events} == {run_id}, events
    types = [f["type"] for f in events]
    assert types[0] == "agent_started" and types.count("agent_started") == 1, types
    assert types[-1] in TERMINAL_TYPES and sum(t in TERMINAL_TYPES for t in types) == 1, types


async def replayed_events(stack: Stack, user: User) -> list[Frame]:
    """Every event the user's stream holds, read through a new socket resuming from 0."""
    reader = User(user.user_id, user.token)
    await reader.open(stack.ws_url, after_seq=0)
    try:
        assert await reader.read_until(lambda u: u.noise["caught_up"] > 0, 10), reader.frames
    finally:
        await reader.close()
    return reader.events
