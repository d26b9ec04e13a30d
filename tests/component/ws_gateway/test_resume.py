"""Resuming: a client that comes back gets exactly what it missed, then the live stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

from nats.aio.client import Client as NATS

from services.ws_gateway.eventlog import EventLog
from shared import subjects
from tests.component.ws_gateway.conftest import (
    Sign,
    drop,
    publish,
    recv_json,
    recv_through,
    seqs,
)


def caught_up(frame: dict[str, object]) -> bool:
    return frame["type"] == "caught_up"


async def test_a_client_back_after_a_disconnect_gets_exactly_what_it_missed_then_live_events(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send('{"type": "ping"}')
        await recv_json(ws)  # registered: what follows reaches this socket live
        before = await publish(nc, user_id, "one", "two")
        first_visit = await recv_through(ws, lambda f: f.get("seq") == before[-1])
    missed = await publish(nc, user_id, "three", "four", "five")  # while it was away

    async with await gateway.connect(sign(user_id), after_seq=before[-1]) as ws:
        replayed = await recv_through(ws, caught_up)
        after = await publish(nc, user_id, "six")
        live = await recv_through(ws, lambda f: f.get("seq") == after[-1])

    assert seqs(first_visit) == before
    assert seqs(replayed) == missed
    assert replayed[-1] == {"type": "caught_up", "last_seq": missed[-1]}
    assert [f["data"]["thought"] for f in replayed[:-1]] == ["three", "four", "five"]
    assert seqs(live) == after


async def test_reconnecting_while_events_keep_coming_loses_and_doubles_nothing(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    texts = [f"event {i}" for i in range(60)]
    ws = await gateway.connect(sign(user_id))
    await ws.send('{"type": "ping"}')
    await recv_json(ws)
    producing = asyncio.create_task(publish(nc, user_id, *texts))
    first = await recv_through(ws, lambda f: "seq" in f)
    await drop(ws)  # the network goes, mid-stream
    async with await gateway.connect(sign(user_id), after_seq=seqs(first)[-1]) as ws:
        published = await producing
        second = await recv_through(ws, lambda f: f.get("seq") == published[-1], within=20)

    got = seqs(first) + seqs(second)
    assert got == published  # every event once, in order, across the seam
    assert sum(1 for f in second if f["type"] == "caught_up") <= 1


async def test_caught_up_comes_even_when_nothing_was_missed(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    [seq] = await publish(nc, user_id, "only")
    gateway = await start_gateway()

    async with await gateway.connect(sign(user_id), after_seq=seq) as ws:
        assert await recv_json(ws) == {"type": "caught_up", "last_seq": seq}


async def test_a_new_client_resuming_from_zero_gets_the_users_whole_history(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    stored = await publish(nc, user_id, "a", "b", "c")
    await publish(nc, user_id + "-other", "not yours")
    gateway = await start_gateway()

    async with await gateway.connect(sign(user_id), after_seq=0) as ws:
        frames = await recv_through(ws, caught_up)

    assert seqs(frames) == stored
    assert frames[-1] == {"type": "caught_up", "last_seq": stored[-1]}


async def test_a_resume_frame_on_an_open_socket_replays_from_its_seq(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    stored = await publish(nc, user_id, "a", "b", "c")
    gateway = await start_gateway()

    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "resume", "after_seq": stored[0]}))
        frames = await recv_through(ws, caught_up)
        [live] = await publish(nc, user_id, "d")
        after = await recv_json(ws)

    assert seqs(frames) == stored[1:]
    assert after["seq"] == live


async def test_resume_gap_says_which_events_the_stream_no_longer_has(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    stored = await publish(nc, user_id, "1", "2", "3", "4", "5")
    js = nc.jetstream()
    for seq in stored[:3]:  # as if they had expired
        await js.delete_msg(subjects.EVENTS_STREAM, seq)
    gateway = await start_gateway()

    async with await gateway.connect(sign(user_id), after_seq=stored[0]) as ws:
        frames = await recv_through(ws, caught_up)

    assert frames[0] == {"type": "resume_gap", "after_seq": stored[0], "oldest_seq": stored[3]}
    assert seqs(frames) == stored[3:]
    assert frames[-1] == {"type": "caught_up", "last_seq": stored[4]}


async def test_a_resume_point_past_the_end_of_the_log_is_taken_as_the_users_newest(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    [newest] = await publish(nc, user_id, "before")
    gateway = await start_gateway()

    async with await gateway.connect(sign(user_id), after_seq=10**15) as ws:
        first = await recv_json(ws)
        [live] = await publish(nc, user_id, "after")
        after = await recv_json(ws)

    assert first == {"type": "caught_up", "last_seq": newest}
    assert after["seq"] == live  # below 10**15, and delivered all the same


async def test_a_backlog_many_times_the_send_queue_pages_through_it_without_a_close(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    stored = await publish(nc, user_id, *(f"backlog {i}" for i in range(300)))
    gateway = await start_gateway(SEND_QUEUE_MAX_FRAMES="16")

    async with await gateway.connect(sign(user_id), after_seq=0) as ws:
        frames = await recv_through(ws, caught_up, within=30)
        await ws.send('{"type": "ping"}')
        pong = await recv_json(ws)

    assert seqs(frames) == stored
    assert pong == {"type": "pong"}  # still open: paged, not closed for being slow


async def test_a_malformed_after_seq_gets_an_error_and_a_live_socket(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()

    async with await gateway.connect(sign(user_id), after_seq="soon") as ws:
        error = await recv_json(ws)
        await ws.send('{"type": "ping"}')

        assert error["data"]["code"] == "invalid_frame"
        assert await recv_json(ws) == {"type": "pong"}


async def test_the_event_log_reader_pages_one_users_events_only(
    start_gateway, nc: NATS, user_id: str
) -> None:
    mine = await publish(nc, user_id, "a", "b", "c")
    await publish(nc, user_id + "-x", "other")
    gateway = await start_gateway()
    reader = EventLog(gateway.server.node.nc)
    await reader.start()
    first = await reader.page(user_id, mine[0], batch=2, max_bytes=1 << 20)
    rest = await reader.page(user_id, first.events[-1][0] + 1, batch=2, max_bytes=1 << 20)

    assert ([s for s, _ in first.events], first.pending) == (mine[:2], 1)
    assert ([s for s, _ in rest.events], rest.pending) == (mine[2:], 0)
    assert (await reader.oldest(user_id), await reader.newest(user_id)) == (mine[0], mine[-1])
    assert await reader.newest("nobody-" + user_id) == 0
    stored = await reader.get(mine[1])
    assert stored is not None and stored.subject == subjects.user_events(user_id)


async def test_many_users_through_forced_reconnects_see_exactly_their_stream(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    """The delivery property, at component scale: whatever the moments of the disconnects, each
    client's events are its user's stream, seq for seq: none lost, none twice, none reordered."""
    gateway = await start_gateway()
    users = [f"{user_id}-{n}" for n in range(8)]
    rng = random.Random(3)
    published: dict[str, list[int]] = {user: [] for user in users}

    async def produce() -> None:
        for step in range(40):
            for user in users:
                published[user] += await publish(nc, user, f"step {step}")

    async def churn(user: str) -> list[int]:
        got: list[int] = []
        for _ in range(6):  # forced: the network goes at a random moment, no close handshake
            ws = await gateway.connect(sign(user), after_seq=got[-1] if got else 0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rng.uniform(0.01, 0.15)):
                    while True:
                        got += seqs([json.loads(await ws.recv())])
            await drop(ws)
        return got

    producing = asyncio.create_task(produce())
    partial = await asyncio.gather(*(churn(user) for user in users))
    await producing
    for user, got in zip(users, partial, strict=True):
        async with await gateway.connect(sign(user), after_seq=got[-1] if got else 0) as ws:
            got += seqs(await recv_through(ws, caught_up, within=20))
        assert got == published[user], user
