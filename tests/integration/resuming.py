"""A test client that survives disconnects: it reconnects with ``?after_seq=`` and keeps every
event it was given, in arrival order, so a test can compare that list with the user's stream."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import nats
import websockets

from shared import subjects
from shared.wire.events import EVENT_TYPES, STREAM_TYPES, TERMINAL_TYPES
from tests.integration.client import connect


@dataclass
class ResumingReader:
    token: str
    events: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)
    connects: int = 0

    @property
    def last_seq(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    def open(self, ws_url: str) -> websockets.asyncio.client.connect:
        self.connects += 1
        return connect(f"{ws_url}?after_seq={self.last_seq}", self.token)

    def take(self, raw: str | bytes) -> dict[str, Any]:
        frame = json.loads(raw)
        (self.events if frame.get("type") in EVENT_TYPES else self.others).append(frame)
        return frame

    async def read_until(
        self, ws: websockets.ClientConnection, done: Any, timeout_s: float
    ) -> None:
        """Read frames until ``done(frame)`` is true."""
        async with asyncio.timeout(timeout_s):
            while not done(self.take(await ws.recv())):
                pass

    def run_events(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["run_id"] == run_id]

    def finished(self, run_id: str) -> bool:
        return any(e["type"] in TERMINAL_TYPES for e in self.run_events(run_id))


async def stored_events(nats_url: str, user_id: str) -> list[tuple[int, dict[str, Any]]]:
    """Every event of ``user_id`` the EVENTS stream holds, as (seq, event), oldest first.

    Right after a cluster node dies JetStream may take a few seconds to answer; ask again."""
    for attempt in range(6):
        try:
            return await _stored_events(nats_url, user_id)
        except nats.errors.TimeoutError:
            if attempt == 5:
                raise
            await asyncio.sleep(2)
    raise AssertionError("unreachable")


async def _stored_events(nats_url: str, user_id: str) -> list[tuple[int, dict[str, Any]]]:
    nc = await nats.connect(nats_url.split(","))
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            subjects.user_events(user_id),
            ordered_consumer=True,
            deliver_policy=nats.js.api.DeliverPolicy.ALL,
        )
        found: list[tuple[int, dict[str, Any]]] = []
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except nats.errors.TimeoutError:
                break
            found.append((msg.metadata.sequence.stream, json.loads(msg.data)))
            if msg.metadata.num_pending == 0:
                break
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


def assert_exactly_the_stream(
    received: list[dict[str, Any]], stored: list[tuple[int, dict[str, Any]]]
) -> None:
    """Zero lost, zero doubled, zero reordered: the client's list is the stream, seq for seq
    (without the streamed-text events: this client does not ask for them, ``deltas=1``)."""
    stored = [(seq, body) for seq, body in stored if body["type"] not in STREAM_TYPES]
    got = [e["seq"] for e in received]
    want = [seq for seq, _ in stored]
    doubled = len(got) - len(set(got))
    assert doubled == 0, f"{doubled} events delivered twice"
    assert got == sorted(got), "events delivered out of order"
    lost = sorted(set(want) - set(got))
    assert not lost, f"{len(lost)} events lost, e.g. seq {lost[:5]}"
    assert got == want
    for event, (_, body) in zip(received, stored, strict=True):
        assert event["type"] == body["type"] and event["data"] == body["data"]
