"""A stack for run-lifecycle tests: two agent processes, a tool runner, processes to kill -9.

No tests here: the fixture and helpers the ``test_runs_*`` modules share. Each module gets its
own cluster (the fixture is module-scoped), with the settings it names. Events are read the way a
gateway reads them, from ``live.user.<id>.events`` with a core subscription; runs are submitted
and cancelled with the agents' own NATS requests, so these tests need no gateway of their own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError

from devstack.processes import ServiceProcess
from devstack.stack import Stack
from services.tools.builtin.slow_task import progress_path
from shared import subjects
from shared.wire.events import STREAM_TYPES
from shared.wire.runs import RunStarted
from tests.component.agent.support import EventFeed, submit
from tests.integration.conftest import LogSink

__all__ = ["Cluster", "Watch", "make_cluster", "started_run", "watch"]


@dataclass
class Cluster:
    stack: Stack
    agents: list[ServiceProcess] = field(default_factory=list)
    tools: list[ServiceProcess] = field(default_factory=list)

    @property
    def progress_dir(self) -> Path:
        return self.stack.data_dir / "progress"

    def progress(self, label: str) -> int:
        """How many steps slow_task ``label`` has recorded so far."""
        path = progress_path(self.progress_dir, label)
        return int(path.read_text()) if path.exists() else 0

    def start(self, name: str) -> ServiceProcess:
        """Another process of service ``name`` (the stack keeps only the latest by name)."""
        process = self.stack.start_service(name)
        process.wait_ready(60)
        (self.agents if name == "agent" else self.tools).append(process)
        return process

    def owner_pid(self, run_id: str) -> int | None:
        """The pid of the agent process holding ``run_id``, from the shared database."""
        database = self.stack.data_dir / "agent.db"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
            row = db.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0].rsplit(":", 2)[1])

    def agent(self, pid: int) -> ServiceProcess:
        return next(agent for agent in self.agents if agent.pid == pid)

    def living_agents(self) -> list[ServiceProcess]:
        return [agent for agent in self.agents if agent.alive()]

    def stop(self) -> None:
        for process in [*self.agents, *self.tools]:
            process.stop()
        self.stack.stop()


def make_cluster(
    nats_url: str, tmp_path_factory: pytest.TempPathFactory, **env: str
) -> Iterator[Cluster]:
    """The whole stack plus a second agent process, with ``env`` on top of the defaults."""
    data_dir = tmp_path_factory.mktemp("runs")
    stack = Stack(
        data_dir=data_dir,
        sink=LogSink(data_dir),
        nats_url=nats_url,
        extra_env={
            "LOG_LEVEL": "INFO",
            "STREAM_TOKENS_PER_S": "0",
            "SLOW_TASK_DIR": str(data_dir / "progress"),
            "AGENT_SHUTDOWN_GRACE_S": "1",
            **env,
        },
    )
    cluster = Cluster(stack)
    try:
        stack.start(timeout_s=60)
        cluster.agents.append(stack.services["agent"])
        cluster.tools.append(stack.services["tools"])
        cluster.start("agent")
        yield cluster
    finally:
        cluster.stop()


Watch = Callable[[str], Awaitable[EventFeed]]


@pytest.fixture
async def watch(nc: NATS) -> AsyncIterator[Watch]:
    """Read a user's events from now on, as a gateway receives them."""
    subscriptions: list[Subscription] = []

    async def watch_user(user_id: str) -> EventFeed:
        subscriptions.append(await nc.subscribe(subjects.live_user_events(user_id)))
        await nc.flush()
        # These tests are about runs: the streamed text's events are passed over.
        return EventFeed(subscriptions[-1], hide=STREAM_TYPES)

    yield watch_user
    for subscription in subscriptions:  # unread events would hold up the client's drain
        await subscription.unsubscribe()


async def started_run(nc: NATS, user_id: str, content: str, **fields: str) -> RunStarted:
    """Submit, riding out the moment after a kill when a request may find no agent at all."""
    for _ in range(100):
        try:
            reply = await submit(nc, user_id=user_id, content=content, **fields)
        except NoRespondersError:
            await asyncio.sleep(0.1)
            continue
        assert isinstance(reply, RunStarted), reply
        return reply
    raise AssertionError("no agent took the run")
