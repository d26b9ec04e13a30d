"""The client's ``deltas=True``: the socket asks for streamed text on every connect, a snapshot on
joining sets where it resumes from, and ``run_events`` answers one run's history. Fake sockets;
no server."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from agentwire_client import Client
from agentwire_client.protocol import PendingRequest, Requests, SeqTracker, with_query
from tests.unit.client.test_renewal import Connector, until

WS_URL = "ws://gateway/ws"


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_with_query_sets_one_parameter_and_keeps_the_others() -> None:
    url = with_query("ws://h/ws?deltas=1&after_seq=3", "after_seq", "9")
    assert query(url) == {"deltas": ["1"], "after_seq": ["9"]}


def test_a_snapshot_moves_the_position_forward_never_back() -> None:
    seq = SeqTracker()
    seq.snapshot(40)
    seq.snapshot(12)
    assert seq.last_seq == 40
    assert not seq.accept({"type": "message_delta", "seq": 40, "run_id": "r"}), "a duplicate"
    assert seq.accept({"type": "message_delta", "seq": 41, "run_id": "r"})


def test_a_run_snapshot_answers_the_run_events_request_of_its_run() -> None:
    requests = Requests()
    first = PendingRequest({"type": "run_events"}, "run_snapshot", "r1")
    second = PendingRequest({"type": "run_events"}, "run_snapshot", "r2")
    requests.add(first)
    requests.add(second)
    assert requests.match({"type": "run_snapshot", "run_id": "r2", "events": []}) is second


async def test_without_deltas_the_url_is_unchanged() -> None:
    connector = Connector()
    async with Client(WS_URL, "T", connector=connector):
        assert connector.sockets[0].url == WS_URL


async def test_deltas_asks_on_every_connect_and_resumes_after_the_snapshot_on_join() -> None:
    connector = Connector()
    async with Client(WS_URL, "T", deltas=True, connector=connector, backoff_base_s=0.01) as client:
        first = connector.sockets[0]
        assert query(first.url) == {"deltas": ["1"]}
        snapshot = {"type": "run_snapshot", "run_id": "r1", "thread_id": "t1", "upto_seq": 41,
                    "events": [{"seq": 41, "type": "message_delta", "run_id": "r1",
                                "data": {"message_id": "m", "delta": "so far"}}]}  # fmt: skip
        first.deliver(snapshot)
        assert (await anext(client))["type"] == "run_snapshot"
        assert client.last_seq == 41
        first.drop(1006)
        await until(lambda: len(connector.sockets) == 2)
        second = connector.sockets[1]
        assert query(second.url) == {"deltas": ["1"], "after_seq": ["41"]}


async def test_run_events_returns_the_runs_snapshot_and_leaves_the_position_alone() -> None:
    connector = Connector()
    async with Client(WS_URL, "T", deltas=True, connector=connector) as client:
        socket = connector.sockets[0]
        socket.deliver({"type": "caught_up", "last_seq": 50})
        asking = asyncio.create_task(client.run_events("r0", after_seq=9, upto_seq=20))
        await asyncio.sleep(0.01)
        assert socket.sent[-1] == {"type": "run_events", "run_id": "r0", "after_seq": 9,
                                   "upto_seq": 20}  # fmt: skip
        history = {"type": "run_snapshot", "run_id": "r0", "thread_id": "t", "upto_seq": 20,
                   "events": []}  # fmt: skip
        socket.deliver(history)
        assert await asking == history
        assert client.last_seq == 50
