"""kill -9 in the middle of runs: every run still ends, within the bound, exactly once, last.

Real processes on a real nats-server: two agent processes sharing their database, one tool
runner, default supervision settings (RUN_LEASE_S=3, TOOL_HEARTBEAT_TIMEOUT_S=3). Every test
that kills a process starts a replacement before it returns, so the next test finds the cluster
whole.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import nats.errors
import pytest
from nats.aio.client import Client as NATS

from shared.wire.events import TERMINAL_TYPES
from tests.component.agent.support import EventFeed, Received, assert_one_run_well_formed, cancel
from tests.integration.test_runs_cluster import Cluster, Watch, make_cluster, started_run, watch

pytestmark = pytest.mark.integration
__all__ = ["watch"]  # a fixture, imported to be used here

BOUND_S = 10.0  # the promise: a run whose process died ends within this


@pytest.fixture(scope="module")
def cluster(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from make_cluster(nats_url, tmp_path_factory, THINK_DELAY_S="0.05")


async def test_an_agent_killed_mid_run_fails_its_runs_within_the_bound_and_spares_the_others(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    runs: list[tuple[str, EventFeed, list[Received]]] = []
    owners: dict[str, int | None] = {}
    for n in range(16):  # until each agent holds a run: whichever agent pulls first takes it
        user = f"kill-agent-{n}-{time.monotonic_ns()}"
        feed = await watch(user)
        run = await started_run(nc, user, f"slow_task seconds=8 steps=16 label=ka-{run_label()}")
        # Inside its tool call: an agent has taken the message in and recorded itself as owner
        # (run_accepted only says the message is stored in the queue).
        seen = await feed.until(lambda e: e.type == "tool_executing", timeout_s=20)
        runs.append((run.run_id, feed, seen))
        owners[run.run_id] = cluster.owner_pid(run.run_id)
        if len(runs) >= 4 and len(set(owners.values())) == 2:
            break
    victim = cluster.agent(next(iter(owners.values())))  # type: ignore[arg-type]
    survivor = next(agent for agent in cluster.living_agents() if agent is not victim)

    killed_at = time.time()
    victim.kill()
    try:
        for run_id, feed, seen in runs:
            events = seen + await feed.until_terminal(timeout_s=30)
            assert_one_run_well_formed(events, run_id)
            last = events[-1]
            if owners[run_id] == victim.pid:
                assert (last.type, last.data["code"]) == ("agent_failed", "agent_lost")
                assert last.data["timestamp"] - killed_at <= BOUND_S
                assert events[-2].type == "tool_completed"  # its open call, closed first
                assert cluster.owner_pid(run_id) == survivor.pid  # ended by the other agent
            else:
                assert last.type == "agent_completed", f"a survivor's run was disturbed: {last}"
    finally:
        cluster.start("agent")


async def test_a_tool_runner_killed_mid_tool_fails_the_run_within_the_bound(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    user = f"kill-tools-{time.monotonic_ns()}"
    feed = await watch(user)
    run = await started_run(nc, user, f"slow_task seconds=30 steps=30 label=kt-{run_label()}")
    seen = await feed.until(lambda e: e.type == "tool_executing", timeout_s=20)
    tools = cluster.tools[-1]

    killed_at = time.time()
    tools.kill()
    try:
        events = seen + await feed.until_terminal(timeout_s=30)
    finally:
        cluster.start("tools")

    assert_one_run_well_formed(events, run.run_id)
    assert [e.type for e in events[-2:]] == ["tool_completed", "agent_failed"]
    assert events[-2].data["error"]["code"] == events[-1].data["code"] == "tool_lost"
    assert events[-1].data["timestamp"] - killed_at <= BOUND_S


async def test_many_random_runs_with_random_cancels_and_a_kill_each_end_exactly_once(
    cluster: Cluster, nc: NATS, watch: Watch
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    users = [f"prop-{n}-{time.monotonic_ns()}" for n in range(10)]
    feeds = [await watch(user) for user in users]
    plans = [[random_message(rng) for _ in range(3)] for _ in users]
    run_ids: list[list[str]] = []
    for user, messages in zip(users, plans, strict=True):  # three messages in one thread each
        first = await started_run(nc, user, messages[0])
        rest = [
            await started_run(nc, user, message, thread_id=first.thread_id)
            for message in messages[1:]
        ]
        run_ids.append([first.run_id, *(run.run_id for run in rest)])
    stops = [
        asyncio.create_task(cancel_after(nc, user, run_id, rng.uniform(0, 3)))
        for user, ids in zip(users, run_ids, strict=True)
        for run_id in ids
        if rng.random() < 1 / 3
    ]

    await asyncio.sleep(rng.uniform(0.5, 3))  # then an agent process dies at a random moment
    rng.choice(cluster.living_agents()).kill()
    try:
        results = await asyncio.gather(
            *(all_ended(feed, ids) for feed, ids in zip(feeds, run_ids, strict=True))
        )
    finally:
        cluster.start("agent")
    await asyncio.gather(*stops)

    for by_run in results:
        for run_id, events in by_run.items():
            try:
                assert_one_run_well_formed(events, run_id)
                if events[-1].type == "agent_failed":
                    assert events[-1].data["code"] == "agent_lost"
            except AssertionError as failure:
                raise AssertionError(f"seed {seed}: {failure}") from failure


def random_message(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"slow_task seconds={rng.uniform(0.5, 2.5):.2f} steps=5"
    return rng.choice(["latency", "cpu costs", "error spikes?"])


async def cancel_after(nc: NATS, user: str, run_id: str, delay_s: float) -> None:
    await asyncio.sleep(delay_s)  # a user pressing Stop at a random moment
    for _ in range(3):
        try:
            await cancel(nc, user, run_id)
            return
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
            # The request reached the agent process being killed at that moment (its queue-group
            # subscription outlives it by a beat) or found none: the user presses Stop again.
            await asyncio.sleep(0.5)


async def all_ended(feed: EventFeed, run_ids: list[str]) -> dict[str, list[Received]]:
    """Each run's events, once every one of ``run_ids`` has had a terminal event."""
    by_run: dict[str, list[Received]] = {run_id: [] for run_id in run_ids}
    ended: set[str] = set()
    while ended != set(run_ids):
        for event in await feed.until_terminal(timeout_s=60):
            by_run[event.frame["run_id"]].append(event)
            if event.type in TERMINAL_TYPES:
                ended.add(event.frame["run_id"])
    return by_run


def run_label() -> str:
    return f"{time.monotonic_ns():x}"
