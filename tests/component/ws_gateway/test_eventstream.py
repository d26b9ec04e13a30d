"""The protocol over plain HTTP (SSE down, POST up) against a real gateway and nats-server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from nats.aio.client import Client as NATS

from tests.component.ws_gateway.conftest import Sign, publish


class SseReader:
    """Reads an SSE stream as (id, frame) pairs; an ``event: close`` as ("close", data)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next(self, within: float = 5.0) -> tuple[str | None, dict[str, Any]]:
        async with asyncio.timeout(within):
            event_id, kind, data = None, None, None
            async for line in self._lines:
                if line.startswith(":"):
                    continue
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line == "" and data is not None:
                    return (kind or event_id), data
        raise AssertionError("the stream ended")

    async def until(self, done: Any, within: float = 5.0) -> list[tuple[str | None, Any]]:
        got = []
        while not got or not done(got[-1][1]):
            got.append(await self.next(within))
        return got


async def open_stream(
    http: httpx.AsyncClient, token: str, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[tuple[httpx.Response, SseReader]]:
    request = http.build_request(
        "GET", f"/events{query}", headers={"Authorization": f"Bearer {token}", **(headers or {})}
    )
    response = await http.send(request, stream=True)
    try:
        yield response, SseReader(response)
    finally:
        await response.aclose()


async def test_events_stream_live_with_their_seq_as_the_sse_id(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
        async for response, reader in open_stream(http, sign(user_id), "?deltas=1"):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            _, caught_up = await reader.next()  # the snapshot on join, empty
            assert caught_up["type"] == "caught_up"
            seqs = await publish(nc, user_id, "one", "two")
            got = [await reader.next(), await reader.next()]
            assert [int(event_id) for event_id, _ in got] == seqs  # type: ignore[arg-type]
            assert [frame["data"]["thought"] for _, frame in got] == ["one", "two"]
            break


async def test_a_stream_reopened_with_last_event_id_resumes_after_it(
    start_gateway, nc: NATS, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    seqs = await publish(nc, user_id, "one", "two", "three")
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
        resume = {"Last-Event-ID": str(seqs[0])}
        async for _, reader in open_stream(http, sign(user_id), headers=resume):
            got = await reader.until(lambda frame: frame["type"] == "caught_up")
            break
    assert [frame["data"]["thought"] for _, frame in got[:-1]] == ["two", "three"]
    assert got[-1][1] == {"type": "caught_up", "last_seq": seqs[-1]}


async def test_a_frame_posted_is_answered_and_its_run_comes_on_the_stream(
    start_gateway, agent, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    token = sign(user_id)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
        pong = await http.post("/events", headers=auth, content=b'{"type":"ping"}')
        assert (pong.status_code, pong.json()) == (200, {"type": "pong"})
        async for _, reader in open_stream(http, token):
            sent = await http.post(
                "/events", headers=auth, content=b'{"type":"message","content":"hi"}'
            )
            accepted = sent.json()
            assert accepted["type"] == "run_accepted"
            frames = await reader.until(lambda frame: frame["type"] == "agent_completed")
            assert {frame["run_id"] for _, frame in frames} == {accepted["run_id"]}
            break
        bad = await http.post("/events", headers=auth, content=b'{"type":"nope"}')
        assert bad.json()["data"]["code"] == "unknown_type"


async def test_no_token_a_token_in_the_url_or_a_foreign_origin_is_refused(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with httpx.AsyncClient(base_url=gateway.http_url, timeout=10) as http:
        assert (await http.get("/events")).status_code == 401
        in_url = await http.get(f"/events?access_token={sign(user_id)}")
        assert in_url.status_code == 401
        foreign = {"Authorization": f"Bearer {sign(user_id)}", "Origin": "https://evil.example"}
        assert (await http.post("/events", headers=foreign, content=b"{}")).status_code == 403
        assert (await http.get("/events", headers=foreign)).status_code == 403
