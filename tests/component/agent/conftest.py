"""Fixtures: the agent in-process on a real nats-server, a stand-in tool runner, event feeds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS

from services.agent.node import AgentNode
from services.agent.settings import AgentSettings
from shared import subjects
from shared.settings import NatsSettings
from tests.component.agent.support import EventFeed, ToolRunnerStandIn, Watch


@pytest.fixture
def agent_settings(nats_url: str, tmp_path: Path) -> AgentSettings:
    return AgentSettings(
        nats=NatsSettings(url=nats_url),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'agent.db'}",
        tool_call_timeout_s=2.0,
        think_delay_s=0.0,
        shutdown_grace_s=0.5,
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
def watch(nc: NATS) -> Watch:
    """Start reading a user's live events (before submitting, so none is missed)."""

    async def watch_user(user_id: str) -> EventFeed:
        return EventFeed(await nc.subscribe(subjects.live_user_events(user_id)))

    return watch_user
