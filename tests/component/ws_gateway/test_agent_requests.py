"""Cancel and listings over the socket, answered by an in-test stand-in for the agents."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared import subjects
from shared.wire import runs
from tests.component.ws_gateway.conftest import Sign, recv_json, recv_through

THREAD = runs.ThreadInfo(thread_id="t-1", title="cpu over 24h", created_at=1.0, updated_at=2.0)


@dataclass
class RunBook:
    """Answers cancel and list requests like the agent service, from a table of owned runs."""

    nc: NATS
    owner_of: dict[str, str] = field(default_factory=dict)  # run_id -> user_id
    seen: list[object] = field(default_factory=list)
    _subs: list[Subscription] = field(default_factory=list)

    async def start(self) -> RunBook:
        for subject, handler in (
            (subjects.run_cancel(), self._cancel),
            (subjects.thread_list(), self._threads),
            (subjects.run_list(), self._runs),
        ):
            self._subs.append(
                await self.nc.subscribe(subject, queue=subjects.AGENT_QUEUE, cb=handler)
            )
        await self.nc.flush()
        return self

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()

    async def _cancel(self, msg: Msg) -> None:
        request = runs.decode_cancel_request(msg.data)
        self.seen.append(request)
        reply: runs.CancelReply = runs.CancelAccepted(run_id=request.run_id, state="cancelling")
        if self.owner_of.get(request.run_id) != request.user_id:
            reply = runs.RunRejected(code="run_not_found", message="no such run of yours")
        await msg.respond(runs.encode(reply))

    async def _threads(self, msg: Msg) -> None:
        request = runs.decode_list_threads_request(msg.data)
        self.seen.append(request)
        await msg.respond(runs.encode(runs.ThreadList(threads=[THREAD])))

    async def _runs(self, msg: Msg) -> None:
        request = runs.decode_list_runs_request(msg.data)
        self.seen.append(request)
        reply: runs.RunList | runs.RunRejected = runs.RunRejected(
            code="thread_not_found", message="no such thread of yours"
        )
        if request.thread_id == THREAD.thread_id:
            mine = [
                runs.RunInfo(
                    run_id=run_id, thread_id="t-1", status="running", content="go", created_at=1.0
                )
                for run_id, owner in self.owner_of.items()
                if owner == request.user_id
            ]
            reply = runs.RunList(
                thread_id=request.thread_id,
                runs=mine[: request.limit],
                cursor=request.cursor,
                next_cursor="page-2" if len(mine) > request.limit else None,
            )
        await msg.respond(runs.encode(reply))


@pytest.fixture
async def run_book(nc: NATS) -> AsyncIterator[RunBook]:
    book = await RunBook(nc).start()
    yield book
    await book.stop()


async def test_cancelling_your_run_is_accepted_for_the_tokens_user(
    start_gateway, run_book: RunBook, sign: Sign, user_id: str
) -> None:
    run_book.owner_of["r-1"] = user_id
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "cancel", "run_id": "r-1", "user_id": "someone"}))
        reply = await recv_json(ws)

    assert reply == {"type": "cancel_accepted", "run_id": "r-1", "state": "cancelling"}
    assert run_book.seen == [runs.CancelRequest(user_id=user_id, run_id="r-1")]


async def test_cancelling_someone_elses_run_gets_the_agents_refusal(
    start_gateway, run_book: RunBook, sign: Sign, user_id: str
) -> None:
    run_book.owner_of["r-theirs"] = "someone-else"
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "cancel", "run_id": "r-theirs"}))
        reply = await recv_json(ws)

    assert reply == {
        "type": "error",
        "data": {"code": "run_not_found", "message": "no such run of yours"},
    }


async def test_listing_threads_and_runs_answers_with_the_users_own(
    start_gateway, run_book: RunBook, sign: Sign, user_id: str
) -> None:
    run_book.owner_of |= {"r-1": user_id, "r-2": "someone-else"}
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "list_threads"}')
        threads = await recv_json(ws)
        await ws.send('{"type": "list_runs", "thread_id": "t-1"}')
        run_list = await recv_json(ws)
        await ws.send('{"type": "list_runs", "thread_id": "t-nope"}')
        unknown = await recv_json(ws)

    assert threads == {
        "type": "threads",
        "threads": [json.loads(runs.encode(THREAD))],
        "next_cursor": None,
    }
    assert run_list["type"] == "runs" and run_list["thread_id"] == "t-1"
    assert [r["run_id"] for r in run_list["runs"]] == ["r-1"]
    assert unknown["data"]["code"] == "thread_not_found"
    assert {getattr(request, "user_id", None) for request in run_book.seen} == {user_id}


async def test_a_listings_limit_and_cursor_reach_the_agents_and_the_page_cursors_come_back(
    start_gateway, run_book: RunBook, sign: Sign, user_id: str
) -> None:
    run_book.owner_of |= {"r-1": user_id, "r-2": user_id}
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "list_runs", "thread_id": "t-1", "limit": 1, "cursor": "page-1"}')
        page = await recv_json(ws)
        await ws.send('{"type": "list_runs", "thread_id": "t-1", "limit": 500}')
        refused = await recv_json(ws)

    assert run_book.seen == [
        runs.ListRunsRequest(user_id=user_id, thread_id="t-1", limit=1, cursor="page-1")
    ]
    assert len(page["runs"]) == 1
    assert (page["cursor"], page["next_cursor"]) == ("page-1", "page-2")
    assert refused["data"]["code"] == "invalid_frame"  # refused at the gateway: 1..200


async def test_with_no_agent_running_a_cancel_or_listing_fails_fast_with_no_agent_available(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        started = time.monotonic()
        await ws.send('{"type": "cancel", "run_id": "r-1"}')
        await ws.send('{"type": "list_threads"}')
        codes = [(await recv_json(ws))["data"]["code"] for _ in range(2)]

    assert codes == ["no_agent_available", "no_agent_available"]
    assert time.monotonic() - started < 4


async def test_a_cancel_sent_while_its_submit_is_unanswered_still_goes_through(
    start_gateway, nc: NATS, run_book: RunBook, sign: Sign, user_id: str
) -> None:
    run_book.owner_of["r-early"] = user_id
    gateway = await start_gateway(SUBMIT_TIMEOUT_S="5")
    await nc.jetstream().delete_stream(subjects.RUNS_STREAM)  # the submission waits: no answer
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "message", "content": "long job"}))
        await ws.send(json.dumps({"type": "cancel", "run_id": "r-early"}))
        frames = await recv_through(ws, lambda f: f["type"] == "cancel_accepted")

    assert [f["type"] for f in frames] == ["cancel_accepted"]  # it did not wait for the submit
    assert run_book.seen == [runs.CancelRequest(user_id=user_id, run_id="r-early")]
