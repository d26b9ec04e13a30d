"""Streamed text through a real gateway and nats-server: deltas live, compacted on resume, a
snapshot on join, one run's history, and the old stream for sockets that did not ask."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from nats.aio.client import Client as NATS

from shared.bus import EventPublisher
from shared.streaming import MessageWriter
from shared.wire import events as ev
from tests.component.ws_gateway.conftest import Sign, drop, recv_json, recv_through

THREAD = "th-1"


class Run:
    """One run published as the agent does: started, a streamed thought, a streamed answer."""

    def __init__(self, nc: NATS, user_id: str, run_id: str = "run-1") -> None:
        self.publisher = EventPublisher(nc.jetstream())
        self.user_id, self.run_id = user_id, run_id
        self.seqs: list[int] = []

    async def publish(self, event: ev.AnyEvent) -> int:
        seq = await self.publisher.publish(self.user_id, event)
        self.seqs.append(seq)
        return seq

    def ids(self) -> dict[str, str]:
        return {"run_id": self.run_id, "thread_id": THREAD}

    def writer(self, message_id: str, kind: ev.MessageKind) -> MessageWriter:
        return MessageWriter(
            self.publish, **self.ids(), agent_id="a", kind=kind, message_id=message_id
        )

    async def start(self) -> None:
        data = ev.AgentStartedData(agent_id="a", message="go")
        await self.publish(ev.AgentStarted(**self.ids(), data=data))

    async def think(self, text: str, message_id: str = "t1") -> None:
        async with self.writer(message_id, "thinking") as thought:
            for word in text.split(" "):
                thought.write(word + " ")
            whole = await thought.finish()
        data = ev.AgentThinkingData(agent_id="a", thought=whole, message_id=message_id)
        await self.publish(ev.AgentThinking(**self.ids(), data=data))

    async def delta(self, text: str, message_id: str = "ans") -> None:
        data = ev.MessageDeltaData(message_id=message_id, delta=text)
        await self.publish(ev.MessageDelta(**self.ids(), data=data))

    async def complete(self, text: str) -> None:
        data = ev.AgentCompletedData(agent_id="a", result=text, message_id="ans")
        await self.publish(ev.AgentCompleted(**self.ids(), data=data))


def tokens(n: int) -> list[str]:
    return [f"word{i} " for i in range(n)]


async def stream_answer(run: Run, words: list[str], pause_s: float = 0.0) -> str:
    async with run.writer("ans", "answer") as answer:
        for word in words:
            answer.write(word)
            if pause_s:
                await asyncio.sleep(pause_s)
        return await answer.finish()


def text_of(frames: list[dict[str, Any]], message_id: str = "ans") -> str:
    return "".join(
        f["data"]["delta"]
        for f in frames
        if f["type"] == "message_delta" and f["data"]["message_id"] == message_id
    )


async def listening(gateway, token: str, query: str = "deltas=1"):  # type: ignore[no-untyped-def]
    from websockets.asyncio.client import connect

    ws = await connect(
        f"{gateway.url}?{query}",
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        max_size=None,
    )
    if "after_seq" in query or "deltas=1" in query:  # a resume, or a snapshot on join
        return ws, await recv_through(ws, lambda f: f["type"] == "caught_up")
    await ws.send('{"type": "ping"}')
    frames = await recv_through(ws, lambda f: f["type"] == "pong")
    return ws, [f for f in frames if f["type"] != "pong"]


async def test_deltas_live_join_to_the_whole_answer(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    ws, _ = await listening(gateway, sign(user_id))
    run = Run(nc, user_id)
    await run.start()
    answer = await stream_answer(run, tokens(200), pause_s=0.001)
    await run.complete(answer)
    frames = await recv_through(ws, lambda f: f["type"] == "agent_completed")
    await ws.close()
    kinds = [f["type"] for f in frames]
    assert kinds[:2] == ["agent_started", "message_started"]
    assert 1 < kinds.count("message_delta") < 200  # coalesced: fewer events than tokens
    assert text_of(frames) == answer == frames[-1]["data"]["result"]
    assert frames[-1]["data"]["message_id"] == "ans"


async def test_a_socket_without_deltas_gets_exactly_the_old_stream(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    ws, _ = await listening(gateway, sign(user_id), query="")
    run = Run(nc, user_id)
    await run.start()
    await run.think("let me look")
    answer = await stream_answer(run, tokens(30))
    await run.complete(answer)
    live = await recv_through(ws, lambda f: f["type"] == "agent_completed")
    await ws.close()
    async with await gateway.connect(sign(user_id), after_seq=0) as again:
        replayed = await recv_through(again, lambda f: f["type"] == "caught_up")
    for frames in (live, replayed):
        kinds = [f["type"] for f in frames if f["type"] != "caught_up"]
        assert kinds == ["agent_started", "agent_thinking", "agent_completed"]
    assert replayed[-1]["last_seq"] == run.seqs[-1]  # the hidden events are no gap


async def test_a_finished_answer_replays_as_its_completing_event_in_about_its_own_bytes(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    run = Run(nc, user_id)
    await run.start()
    await run.think("first I read the numbers")
    answer = await stream_answer(run, tokens(2000), pause_s=0.0005)
    await run.complete(answer)
    from websockets.asyncio.client import connect

    ws = await connect(
        f"{gateway.url}?deltas=1&after_seq=0",
        additional_headers={"Authorization": f"Bearer {sign(user_id)}"},
        compression=None,
        max_size=None,
    )
    raw: list[str] = []
    while True:
        message = await asyncio.wait_for(ws.recv(), 5)
        raw.append(message)  # type: ignore[arg-type]
        if json.loads(message)["type"] == "caught_up":
            break
    await ws.close()
    frames = [json.loads(m) for m in raw]
    assert len(run.seqs) > 10  # the answer was stored as many deltas
    assert [f["type"] for f in frames] == [
        "agent_started",
        "agent_thinking",
        "agent_completed",
        "caught_up",
    ]
    assert frames[2]["data"]["result"] == answer
    assert sum(len(m.encode()) for m in raw) <= 1.2 * len(answer.encode())


async def test_a_drop_mid_answer_and_a_resume_give_the_whole_text_once(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    ws, _ = await listening(gateway, sign(user_id))
    run = Run(nc, user_id)
    await run.start()
    words = tokens(300)
    chunks = ["".join(words[i : i + 10]) for i in range(0, 300, 10)]
    await run.writer("ans", "answer").start()
    for chunk in chunks[:10]:
        await run.delta(chunk)
    first = await recv_through(ws, lambda f: f.get("seq") == run.seqs[-1])
    await drop(ws)
    for chunk in chunks[10:20]:  # while it is away
        await run.delta(chunk)
    resume_at = first[-1]["seq"]
    ws, replayed = await listening(gateway, sign(user_id), query=f"deltas=1&after_seq={resume_at}")
    for chunk in chunks[20:]:
        await run.delta(chunk)
    whole = "".join(words)
    await run.complete(whole)
    rest = await recv_through(ws, lambda f: f["type"] == "agent_completed")
    await ws.close()
    replayed_deltas = [f for f in replayed if f["type"] == "message_delta"]
    assert len(replayed_deltas) == 1  # what it lacked, in one piece
    assert replayed_deltas[0]["data"]["delta"] == "".join(chunks[10:20])
    assert replayed[-1]["type"] == "caught_up"
    assert text_of(first) + text_of(replayed) + text_of(rest) == whole
    received = [f["seq"] for f in first + replayed + rest if "seq" in f]
    assert received == sorted(set(received))  # nothing doubled, in order


async def test_a_tab_opened_mid_answer_gets_the_text_so_far_then_the_rest(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    ended = Run(nc, user_id, run_id="run-0")
    await ended.start()
    await ended.complete("done before")
    run = Run(nc, user_id)
    await run.start()
    await run.think("looking")
    await run.writer("ans", "answer").start()
    words = tokens(120)
    for word in words[:60]:
        await run.delta(word)
    ws = await gateway.connect(sign(user_id))  # no deltas: no snapshot
    await ws.send('{"type": "ping"}')
    assert (await recv_json(ws))["type"] == "pong"
    await ws.close()
    so_far_seq = run.seqs[-1]
    tab, opening = await listening(gateway, sign(user_id))
    [snapshot, caught_up] = opening
    assert caught_up == {"type": "caught_up", "last_seq": snapshot["upto_seq"]}
    for word in words[60:]:
        await run.delta(word)
    await run.complete("".join(words))
    rest = await recv_through(tab, lambda f: f["type"] == "agent_completed")
    await tab.close()
    assert snapshot["type"] == "run_snapshot" and snapshot["run_id"] == "run-1"
    assert snapshot["upto_seq"] == so_far_seq
    kinds = [f["type"] for f in snapshot["events"]]
    assert kinds == ["agent_started", "agent_thinking", "message_started", "message_delta"]
    assert snapshot["events"][-1]["seq"] == so_far_seq  # the last delta's place
    so_far = text_of(snapshot["events"])
    assert so_far == "".join(words[:60])
    assert so_far + text_of(rest) == "".join(words)
    assert min(f["seq"] for f in rest) > snapshot["upto_seq"]


async def test_run_events_gives_a_finished_run_whole_and_nothing_of_other_users(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    run = Run(nc, user_id)
    await run.start()
    await run.think("step one", message_id="t1")
    answer = await stream_answer(run, tokens(50))
    await run.complete(answer)
    stranger = Run(nc, "someone-else", run_id="run-1")
    await stranger.start()
    ws, _ = await listening(gateway, sign(user_id))
    first, last = run.seqs[0], max(run.seqs[-1], stranger.seqs[-1])
    request = {"type": "run_events", "run_id": "run-1", "after_seq": first - 1, "upto_seq": last}
    await ws.send(json.dumps(request))
    snapshot = await recv_json(ws)
    await ws.close()
    assert snapshot["type"] == "run_snapshot"
    assert [f["type"] for f in snapshot["events"]] == [
        "agent_started",
        "agent_thinking",
        "agent_completed",
    ]
    assert snapshot["events"][-1]["data"]["result"] == answer


async def test_sockets_joining_while_a_run_is_stored_miss_none_of_its_events(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    run = Run(nc, user_id)

    async def store() -> None:
        await run.start()
        for step in range(40):
            data = ev.AgentThinkingData(agent_id="a", thought=f"step {step}", step=step)
            await run.publish(ev.AgentThinking(**run.ids(), data=data))
            await asyncio.sleep(0.005)

    # Some sockets join before the run's first event, some while its events are stored.
    joiners = [asyncio.create_task(listening(gateway, sign(user_id))) for _ in range(10)]
    storer = asyncio.create_task(store())
    joiners += [asyncio.create_task(listening(gateway, sign(user_id))) for _ in range(10)]
    joined = await asyncio.gather(*joiners)
    await storer
    await run.complete("done")
    for ws, opening in joined:
        live = await recv_through(ws, lambda f: f["type"] == "agent_completed")
        await ws.close()
        snapshots = [f for f in opening if f["type"] == "run_snapshot"]
        seen = {e["seq"] for s in snapshots for e in s["events"]}
        seen |= {f["seq"] for f in live if f.get("run_id") == run.run_id}
        assert seen == set(run.seqs)  # each event once: in the snapshot, or live after it


async def test_a_run_that_starts_as_a_socket_joins_is_not_lost_between_snapshot_and_live(
    start_gateway, nc: NATS, sign: Sign
) -> None:
    """The race the streaming bench found: events stored right after the handshake, while the
    snapshot is being read, must come either in the snapshot or live."""
    from websockets.asyncio.client import connect

    gateway = await start_gateway()
    missed = 0
    for trial in range(30):
        user = f"join-{trial}-{time.monotonic_ns()}"
        ws = await connect(
            f"{gateway.url}?deltas=1", additional_headers={"Authorization": f"Bearer {sign(user)}"}
        )
        run = Run(nc, user, run_id=f"run-{trial}")
        await run.start()
        await run.writer("ans", "answer").start()
        seen: set[int] = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                while seen != set(run.seqs):
                    frame = json.loads(await ws.recv())
                    events = frame["events"] if frame["type"] == "run_snapshot" else [frame]
                    seen |= {e["seq"] for e in events if e.get("run_id") == run.run_id}
        missed += seen != set(run.seqs)
        await ws.close()
    assert missed == 0
