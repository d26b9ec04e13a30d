"""Lost events: what the EVENTS stream holds for each user against what the user's socket got.

A socket can tell a doubled or reordered seq by itself, not a missing one (a user's seqs are not
contiguous). After each phase the bench reads the stream's seqs in the phase's range (headers
only, one ordered consumer: no payloads) and compares them, user by user, with the seqs the
load generators received in the same range.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import nats
import nats.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared import subjects

__all__ = ["compare", "last_seq", "settle", "stored_seqs"]


async def last_seq(url: str) -> int:
    """The stream's newest seq (0 when empty)."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(subjects.EVENTS_STREAM)
        return int(info.state.last_seq)
    finally:
        await nc.close()


async def settle(url: str, quiet_s: float, limit_s: float, poll_s: float = 0.1) -> dict[str, float]:
    """Wait until the stream has taken no event for ``quiet_s`` (at most ``limit_s``).

    Runs nobody waits for (a message refused with ``no_agent_available`` whose run the agent
    started anyway) must not run on into the next phase.
    """
    loop = asyncio.get_running_loop()
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        t0 = loop.time()
        seq, since, changed_at = -1, t0, time.time()
        while loop.time() - t0 < limit_s:
            now_seq = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
            if now_seq != seq:
                seq, since, changed_at = now_seq, loop.time(), time.time()
            elif loop.time() - since >= quiet_s:
                break
            await asyncio.sleep(poll_s)
        return {
            "waited_s": round(since - t0, 2),
            "last_stored_at": changed_at,  # wall clock, when the last event was seen stored
            "quiet": loop.time() - since >= quiet_s,
        }
    finally:
        await nc.close()


async def stored_seqs(url: str, lo: int, hi: int, idle_s: float = 2.0) -> dict[str, list[int]]:
    """Each user's stored seqs in ``(lo, hi]``, from the subject ``user.<id>.events``."""
    found: dict[str, list[int]] = defaultdict(list)
    if hi <= lo:
        return found
    nc = await nats.connect(url)
    try:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=lo + 1, headers_only=True
        )
        sub = await nc.jetstream().subscribe(
            subjects.user_events_wildcard(), ordered_consumer=True, config=config
        )
        while True:
            try:
                msg = await sub.next_msg(timeout=idle_s)
            except nats.errors.TimeoutError:
                break  # seqs up to ``hi`` that expired or were deleted never come
            seq = msg.metadata.sequence.stream
            if seq > hi:
                break
            found[msg.subject.split(".")[1]].append(seq)
            if seq == hi:
                break
        await sub.unsubscribe()
    finally:
        await nc.close()
    return found


def compare(stored: dict[str, list[int]], received: dict[str, list[int]]) -> dict[str, int]:
    """Events stored but not received (lost), and received but not stored, over all users."""
    lost = extra = 0
    for user in stored.keys() | received.keys():
        want, got = set(stored.get(user, ())), set(received.get(user, ()))
        lost += len(want - got)
        extra += len(got - want)
    return {
        "stored": sum(len(v) for v in stored.values()),
        "received": sum(len(v) for v in received.values()),
        "lost": lost,
        "not_in_stream": extra,
    }
