"""A property over many random runs: each has exactly one terminal event, and it is last.

Two agent nodes share one database and a real tool runner; ten users each send three messages
into one thread (so two of them queue), some of which call a slow tool, and a random third of
all runs are cancelled at a random moment. The seed is in every failure message.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest
from nats.aio.client import Client as NATS

from services.agent.closing import NEVER_STARTED
from shared.wire.events import TERMINAL_TYPES
from shared.wire.runs import RunStarted
from tests.component.agent.conftest import StartAgent, StartTools
from tests.component.agent.support import (
    EventFeed,
    Received,
    Watch,
    assert_one_run_well_formed,
    cancel,
    new_user,
    submit,
)

pytestmark = pytest.mark.both_databases  # SQLite, then PostgreSQL: tests/component/conftest.py

USERS = 10
MESSAGES_PER_USER = 3


def a_message(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"slow_task seconds={rng.uniform(0.2, 1.0):.2f} steps=4"
    return rng.choice(["latency", "cpu costs this month", "error spikes in the db?"])


async def one_user(
    nc: NATS, user: str, feed: EventFeed, rng: random.Random
) -> dict[str, list[Received]]:
    """Send three messages into one thread, cancel some at random; return each run's events."""
    first = await submit(nc, user_id=user, content=a_message(rng))
    assert isinstance(first, RunStarted), first
    run_ids = [first.run_id]
    for _ in range(MESSAGES_PER_USER - 1):
        reply = await submit(nc, user_id=user, content=a_message(rng), thread_id=first.thread_id)
        assert isinstance(reply, RunStarted), reply
        run_ids.append(reply.run_id)
    cancels = [
        asyncio.create_task(cancel_later(nc, user, run_id, rng.uniform(0, 1.5)))
        for run_id in run_ids
        if rng.random() < 1 / 3
    ]
    events = await until_all_ended(feed, len(run_ids))
    await asyncio.gather(*cancels)
    by_run: dict[str, list[Received]] = defaultdict(list)
    for event in events:
        by_run[event.frame["run_id"]].append(event)
    assert sorted(by_run) == sorted(run_ids)
    return {run_id: by_run[run_id] for run_id in run_ids}


async def cancel_later(nc: NATS, user: str, run_id: str, delay_s: float) -> None:
    await asyncio.sleep(delay_s)  # a user pressing Stop at a random moment
    await cancel(nc, user, run_id)


async def until_all_ended(feed: EventFeed, runs: int) -> list[Received]:
    events: list[Received] = []
    while sum(e.type in TERMINAL_TYPES for e in events) < runs:
        events += await feed.until(lambda e: e.type in TERMINAL_TYPES, timeout_s=60)
    return events


async def test_every_run_has_exactly_one_terminal_event_and_it_is_last(
    nc: NATS, start_agent: StartAgent, start_tools: StartTools, watch: Watch
) -> None:
    seed = random.randrange(1_000_000)
    await start_agent(think_delay_s=0.02)
    await start_agent(think_delay_s=0.02)
    await start_tools()
    users = [new_user() for _ in range(USERS)]
    feeds = [await watch(user) for user in users]

    results = await asyncio.gather(
        *(
            one_user(nc, user, feed, random.Random(seed * 100 + n))
            for n, (user, feed) in enumerate(zip(users, feeds, strict=True))
        )
    )

    endings: list[str] = []
    for runs in results:
        previous_end = 0
        for run_id, events in runs.items():
            try:
                assert_one_run_well_formed(events, run_id)
                if events[0].data["message"] != NEVER_STARTED:  # not cancelled in the queue
                    # A thread's runs take turns: each starts after the previous one's end.
                    assert events[0].seq > previous_end
                    previous_end = events[-1].seq
            except AssertionError as failure:
                raise AssertionError(f"seed {seed}: {failure}") from failure
            endings.append(events[-1].data.get("code", events[-1].type))  # a failure: its code
    assert len(endings) == USERS * MESSAGES_PER_USER
    assert set(endings) <= {"agent_completed", "agent_cancelled"}, f"seed {seed}: {endings}"
    # (a failure's code stands in for agent_failed, so a surprise says what went wrong)
    for feed in feeds:
        assert await feed.quiet_for(0.05) == [], f"seed {seed}: an event after the last end"
