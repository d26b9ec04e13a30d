"""Hostile input on real sockets, and one user reaching for another's runs, threads and events.

The ownership rules are the agent's (it refuses what is not the requester's); here an in-test
agent implements them, so these tests prove the gateway's half: the user id in every request
is the token's, whatever the frame says, a refusal reaches the client as an error frame, and the
owner's stream is untouched.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from websockets.asyncio.client import ClientConnection

from shared import subjects
from shared.bus import EventPublisher
from shared.wire import events, runs
from shared.wire.intake import RunIntake
from tests.component.ws_gateway.conftest import (
    QueueReader,
    Sign,
    publish,
    recv_json,
    recv_until,
    seqs,
)

HOSTILE_FRAMES = [
    "{",
    "[]",
    "null",
    '"message"',
    "\x00\x01\x02",
    '{"type": 5}',
    '{"type": "message"}',
    '{"type": "message", "content": ""}',
    '{"type": "message", "content": {"$gt": ""}}',
    '{"type": "message", "content": "hi", "thread_id": "a.b"}',
    '{"type": "message", "content": "hi", "thread_id": "*"}',
    '{"type": "message", "content": "hi", "client_msg_id": ">"}',
    '{"type": "cancel", "run_id": "x y"}',
    '{"type": "cancel", "run_id": ""}',
    '{"type": "list_runs", "thread_id": "user.*.events"}',
    '{"type": "resume", "after_seq": -1}',
    '{"type": "resume", "after_seq": 99999999999999999999999}',
    '{"type": "resume", "after_seq": "1"}',
    '{"type": "auth", "token": 7}',
    '{"type": "auth"}',
    '{"type": "\\ud800"}',
    '{"type": "cancel", "run_id": "' + "\u202e" * 1000 + '"}',
    '{"type": "message", "content": ' + "[" * 5000 + "]" * 5000 + "}",
    json.dumps({"type": "message", "content": "x" * 70_000}),
]


@dataclass
class OwningAgent:
    """Answers runs, cancels and listings, refusing whatever is not the requester's."""

    nc: NATS
    threads: dict[str, str] = field(default_factory=dict)  # thread_id -> owner
    runs: dict[str, str] = field(default_factory=dict)  # run_id -> owner
    asked_for: list[str] = field(default_factory=list)  # every user id a request carried
    took: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> OwningAgent:
        self._reader = QueueReader(self.nc, self._take)
        await self._reader.start()
        for subject, handler in (
            (subjects.run_cancel(), self._cancel),
            (subjects.run_list(), self._list_runs),
            (subjects.thread_list(), self._list_threads),
        ):
            await self.nc.subscribe(subject, queue=subjects.AGENT_QUEUE, cb=handler)
        await self.nc.flush()
        return self

    async def stop(self) -> None:
        await self._reader.stop()

    async def _take(self, intake: RunIntake) -> None:
        """As the agent does: a thread that is not the sender's ends the run thread_not_found."""
        self.asked_for.append(intake.user_id)
        if self.threads.setdefault(intake.thread_id, intake.user_id) != intake.user_id:
            await self._fail(intake, "thread_not_found")
            return
        self.runs[intake.run_id] = intake.user_id
        self.took.set()

    async def _fail(self, intake: RunIntake, code: str) -> None:
        ids = {"run_id": intake.run_id, "thread_id": intake.thread_id}
        failed = events.AgentFailedData(agent_id="owning", code=code, message="no such thread")
        await EventPublisher(self.nc.jetstream()).publish(
            intake.user_id, events.AgentFailed(**ids, data=failed)
        )

    async def _cancel(self, msg: Msg) -> None:
        request = runs.decode_cancel_request(msg.data)
        self.asked_for.append(request.user_id)
        if self.runs.get(request.run_id) != request.user_id:
            await msg.respond(runs.encode(_rejected("run_not_found")))
            return
        await msg.respond(
            runs.encode(runs.CancelAccepted(run_id=request.run_id, state="cancelling"))
        )

    async def _list_runs(self, msg: Msg) -> None:
        request = runs.decode_list_runs_request(msg.data)
        self.asked_for.append(request.user_id)
        if self.threads.get(request.thread_id) != request.user_id:
            await msg.respond(runs.encode(_rejected("thread_not_found")))
            return
        await msg.respond(runs.encode(runs.RunList(thread_id=request.thread_id, runs=[])))

    async def _list_threads(self, msg: Msg) -> None:
        request = runs.decode_list_threads_request(msg.data)
        self.asked_for.append(request.user_id)
        await msg.respond(runs.encode(runs.ThreadList(threads=[])))


def _rejected(code: str) -> runs.RunRejected:
    return runs.RunRejected(code=code, message=f"{code.replace('_', ' ')} among yours")


@pytest.fixture
async def owning_agent(nc: NATS) -> AsyncIterator[OwningAgent]:
    agent = await OwningAgent(nc).start()
    yield agent
    await agent.stop()


async def send(ws: ClientConnection, frame: dict) -> dict:
    """Send ``frame``; the first answer that is not an event."""
    await ws.send(json.dumps(frame))
    while True:
        answer = await recv_json(ws)
        if "seq" not in answer:
            return answer


async def test_a_barrage_of_hostile_frames_leaves_the_socket_and_others_working(
    start_gateway, sign: Sign, user_id: str, nc: NATS
) -> None:
    gateway = await start_gateway(MESSAGES_PER_SECOND="1000", MESSAGE_BURST="1000")
    async with (
        await gateway.connect(sign(user_id)) as ws,
        await gateway.connect(sign("bystander-1")) as other,
    ):
        for raw in HOSTILE_FRAMES:
            await ws.send(raw)
        answers = [await recv_json(ws) for _ in HOSTILE_FRAMES]
        assert [a["type"] for a in answers] == ["error"] * len(HOSTILE_FRAMES)
        await ws.send('{"type": "ping"}')
        assert await recv_json(ws) == {"type": "pong"}
        [seq] = await publish(nc, "bystander-1", "still here")
        assert seqs([await recv_json(other)]) == [seq]


async def test_another_users_run_and_thread_are_refused_and_the_owners_stream_untouched(
    start_gateway, sign: Sign, nc: NATS, owning_agent: OwningAgent
) -> None:
    gateway = await start_gateway()
    async with (
        await gateway.connect(sign("owner-1")) as owner,
        await gateway.connect(sign("intruder-1")) as intruder,
    ):
        accepted = await send(owner, {"type": "message", "content": "mine"})
        run_id, thread_id = accepted["run_id"], accepted["thread_id"]
        await asyncio.wait_for(owning_agent.took.wait(), 5)  # the agent has taken it in
        assert owning_agent.runs[run_id] == "owner-1"
        attempts = [
            {"type": "cancel", "run_id": run_id, "user_id": "owner-1"},
            {"type": "list_runs", "thread_id": thread_id},
        ]
        refusals = [await send(intruder, attempt) for attempt in attempts]
        await intruder.send(
            json.dumps({"type": "message", "content": "in yours", "thread_id": thread_id})
        )
        intruder_frames = await recv_until(intruder, "agent_failed")
        [seq] = await publish(nc, "owner-1", "the owner's event")
        owner_frames = await recv_until(owner, "agent_thinking")

    assert [r["data"]["code"] for r in refusals] == ["run_not_found", "thread_not_found"]
    # A message into someone else's thread is stored, then ended by the agent that takes it.
    assert [f["type"] for f in intruder_frames] == ["run_accepted", "agent_failed"]
    assert intruder_frames[-1]["data"]["code"] == "thread_not_found"
    assert seqs(owner_frames) == [seq]
    assert set(owning_agent.asked_for) == {"owner-1", "intruder-1"}
    assert owning_agent.asked_for.count("intruder-1") == 3  # a frame's user_id counts for nothing


async def test_resuming_with_another_users_seqs_replays_only_your_own_events(
    start_gateway, sign: Sign, nc: NATS
) -> None:
    victim, attacker = f"victim-{uuid.uuid4().hex[:8]}", f"attacker-{uuid.uuid4().hex[:8]}"
    victims = await publish(nc, victim, "secret 1", "secret 2", "secret 3")
    [own] = await publish(nc, attacker, "mine")
    gateway = await start_gateway()
    async with await gateway.connect(sign(attacker), after_seq=victims[0] - 1) as ws:
        frames = await recv_until(ws, "caught_up")
        for after in (0, *victims):
            await ws.send(json.dumps({"type": "resume", "after_seq": after}))
            frames += await recv_until(ws, "caught_up")

    assert all("secret" not in json.dumps(frame) for frame in frames)
    assert set(seqs(frames)) <= {own}
    assert not set(seqs(frames)) & set(victims)
