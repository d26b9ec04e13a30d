"""The agent's request edge on a real nats-server: answers run side by side, a bounded number at
a time; stopping still answers what was delivered; an answer too big for NATS is said so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError

from services.agent.bus import Responder, subscribe_requests
from shared import subjects
from shared.errors import ErrorCode
from shared.wire import runs


@dataclass
class Gate:
    """List answers that wait: a thread named ``slow…`` is answered once ``release`` is set,
    which any other thread's request does."""

    entered: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    finished: list[str] = field(default_factory=list)
    threads: list[runs.ThreadInfo] = field(default_factory=list)

    async def list_runs(self, request: runs.ListRunsRequest) -> runs.RunList:
        self.entered.put_nowait(request.thread_id)
        if request.thread_id.startswith("slow"):
            await self.release.wait()
        else:
            self.release.set()
        self.finished.append(request.thread_id)
        return runs.RunList(thread_id=request.thread_id, runs=[])

    async def list_threads(self, request: runs.ListThreadsRequest) -> runs.ThreadList:
        return runs.ThreadList(threads=self.threads)

    async def cancel(self, request: object) -> runs.RunRejected:
        raise NotImplementedError

    async def list_agents(self, request: object) -> runs.AgentList:
        return runs.AgentList(agents=[])

    async def decide(self, request: object) -> runs.RunRejected:
        raise NotImplementedError

    def stop_local(self, run_id: str) -> None:
        pass


@dataclass
class Serving:
    nc: NATS
    responders: list[Responder]

    async def stop(self) -> None:
        for responder in self.responders:
            await responder.drain()
        self.responders = []
        if not self.nc.is_closed:
            await self.nc.close()


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def serve(nats_url: str, gate: Gate) -> AsyncIterator[object]:
    """Answer the agents' requests from ``gate`` on a connection of their own."""
    started: list[Serving] = []

    async def start(max_answering: int = 32) -> Serving:
        nc = await nats.connect(nats_url)
        responders = await subscribe_requests(nc, gate, max_answering=max_answering)  # type: ignore[arg-type]
        started.append(Serving(nc, responders))
        return started[-1]

    yield start
    gate.release.set()
    for serving in started:
        await serving.stop()


async def ask_runs(nc: NATS, thread_id: str) -> runs.RunList | runs.RunRejected:
    request = runs.ListRunsRequest(user_id="alice", thread_id=thread_id)
    msg = await nc.request(subjects.run_list(), runs.encode(request), timeout=5)
    return runs.decode_run_list_reply(msg.data)


async def test_a_slow_answer_does_not_hold_up_the_next_request_on_the_same_subject(
    nc: NATS, serve, gate: Gate
) -> None:
    await serve()
    slow = asyncio.create_task(ask_runs(nc, "slow"))
    assert await gate.entered.get() == "slow"

    # Answered one at a time, this request would wait behind the slow one, which waits for it.
    fast = await ask_runs(nc, "fast")

    assert isinstance(fast, runs.RunList) and fast.thread_id == "fast"
    reply = await slow
    assert isinstance(reply, runs.RunList) and reply.thread_id == "slow"
    assert gate.finished == ["fast", "slow"]


async def test_at_most_max_answering_answers_are_under_way_and_the_rest_wait(
    nc: NATS, serve, gate: Gate
) -> None:
    await serve(max_answering=2)
    asked = [asyncio.create_task(ask_runs(nc, f"slow-{i}")) for i in range(3)]
    entered = {await gate.entered.get(), await gate.entered.get()}

    await asyncio.sleep(0.3)  # time enough for a third answer to start, if it could
    assert gate.entered.empty()
    gate.release.set()
    replies = await asyncio.gather(*asked)

    assert len(entered) == 2
    assert sorted(r.thread_id for r in replies if isinstance(r, runs.RunList)) == [
        "slow-0",
        "slow-1",
        "slow-2",
    ]


async def test_stopping_waits_for_an_answer_under_way_and_it_still_goes_out(
    nc: NATS, serve, gate: Gate
) -> None:
    serving = await serve()
    slow = asyncio.create_task(ask_runs(nc, "slow"))
    assert await gate.entered.get() == "slow"

    stopping = asyncio.create_task(serving.stop())  # drains, then closes the connection
    await until_unsubscribed(nc, subjects.run_list())
    assert not stopping.done()  # the subscription is gone, the answer under way is not
    gate.release.set()

    reply = await slow
    await stopping
    assert isinstance(reply, runs.RunList) and reply.thread_id == "slow"


async def test_an_answer_over_the_payload_limit_becomes_a_reply_too_large_refusal(
    nc: NATS, serve, gate: Gate
) -> None:
    serving = await serve()
    title = "x" * 1000
    count = serving.nc.max_payload // 1000 + 1
    gate.threads = [
        runs.ThreadInfo(thread_id=f"t{i}", title=title, created_at=1.0, updated_at=1.0)
        for i in range(count)
    ]
    request = runs.encode(runs.ListThreadsRequest(user_id="alice"))

    msg = await nc.request(subjects.thread_list(), request, timeout=5)

    reply = runs.decode_thread_list_reply(msg.data)
    assert isinstance(reply, runs.RunRejected) and reply.code == ErrorCode.REPLY_TOO_LARGE
    assert len(msg.data) < 1000
    assert isinstance(await ask_runs(nc, "fast"), runs.RunList)  # and the agent answers on


async def until_unsubscribed(nc: NATS, subject: str) -> None:
    for _ in range(250):
        try:
            await nc.request(subject, b"{}", timeout=0.2)
        except NoRespondersError:
            return
        except nats.errors.TimeoutError:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"{subject} is still served")
