"""Fixtures: the agent in-process on a real nats-server, a stand-in or a real tool runner, feeds.

``start_agent`` and ``start_tools`` start more nodes with their own settings; every node they
start is stopped after the test. Several agents started in one test share one database, as the
agent processes of one deployment do.

That database is a fresh SQLite file; a test marked ``both_databases`` (the store's tests, and
the node tests that lean on its SQL: threads, cancels, supervision, every run ends) runs twice,
the second time on a fresh PostgreSQL database (see tests/component/conftest.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent.node import AgentNode
from services.agent.repository import AgentRepository, create_tables, open_engine
from services.agent.settings import AgentSettings
from services.tools.builtin import builtin_registry
from services.tools.bus import ToolRunnerNode
from services.tools.settings import ToolsSettings
from shared import subjects
from shared.settings import NatsSettings
from tests.component.agent.support import EventFeed, ToolRunnerStandIn, Watch


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # A plain function, as in auth: it asks for the async ``postgres_url`` only when it needs it,
    # and that must happen outside the event loop pytest-asyncio runs async fixtures in.
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'agent.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The agent's tables on ``database_url``, for tests of the store itself."""
    engine = open_engine(database_url)
    await create_tables(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def repository(engine: AsyncEngine) -> AgentRepository:
    return AgentRepository(engine)


@pytest.fixture
def agent_settings(nats_url: str, database_url: str, fresh_runs_queue: None) -> AgentSettings:
    return AgentSettings(
        nats=NatsSettings(url=nats_url),
        database_url=database_url,
        tool_call_timeout_s=2.0,
        think_delay_s=0.0,
        shutdown_grace_s=0.5,
        stream_tokens_per_s=0.0,  # streamed, but not typed at a pace: each text in one delta
    )


@pytest.fixture
async def agent(agent_settings: AgentSettings) -> AsyncIterator[AgentNode]:
    async with AgentNode(agent_settings) as node:
        yield node


@pytest.fixture
async def tool_runner(nc: NATS) -> AsyncIterator[ToolRunnerStandIn]:
    stand_in = ToolRunnerStandIn(nc)
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def watch(nc: NATS) -> AsyncIterator[Watch]:
    """Start reading a user's live events (before submitting, so none is missed)."""
    feeds: list[Subscription] = []

    async def watch_user(user_id: str) -> EventFeed:
        feeds.append(await nc.subscribe(subjects.live_user_events(user_id)))
        return EventFeed(feeds[-1])

    yield watch_user
    for sub in feeds:  # unread events would otherwise hold up the client's drain
        await sub.unsubscribe()


StartAgent = Callable[..., Awaitable[AgentNode]]
StartTools = Callable[..., Awaitable[ToolRunnerNode]]


@pytest.fixture
async def start_agent(agent_settings: AgentSettings) -> AsyncIterator[StartAgent]:
    """Start an agent node with some settings changed (``run_lease_s=1``, say)."""
    nodes: list[AgentNode] = []

    async def start(**changes: Any) -> AgentNode:
        node = AgentNode(dataclasses.replace(agent_settings, **changes))
        nodes.append(node)
        await node.start()
        return node

    yield start
    for node in reversed(nodes):
        await node.stop()


@pytest.fixture
def progress_dir(tmp_path: Path) -> Path:
    """Where the real tool runner's slow_task records its steps."""
    return tmp_path / "progress"


@pytest.fixture
async def start_tools(nats_url: str, progress_dir: Path, nc: NATS) -> AsyncIterator[StartTools]:
    """Start a real tool runner (the built-in tools, slow_task included) in this event loop."""
    nodes: list[ToolRunnerNode] = []

    async def start(**changes: Any) -> ToolRunnerNode:
        settings = ToolsSettings(nats=NatsSettings(url=nats_url), heartbeat_interval_s=0.25)
        node = ToolRunnerNode(
            dataclasses.replace(settings, **changes), builtin_registry(progress_dir)
        )
        nodes.append(node)
        await node.start()
        await _served(nc, subjects.tool_call("slow_task"))
        return node

    yield start
    for node in reversed(nodes):
        await node.stop()


async def _served(nc: NATS, subject: str) -> None:
    """Until the server routes ``subject`` to a responder (another connection's fresh SUB)."""
    for _ in range(100):
        try:
            await nc.request(subject, b"", timeout=5)  # malformed: refused, publishes nothing
            return
        except NoRespondersError:
            await asyncio.sleep(0.02)
