"""Every run ends: a hanging tool, a vanished tool runner, a dead agent, a missed cancel."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from services.agent.ledger import RunLedger
from services.agent.models import CallStage
from services.agent.node import AgentNode
from services.agent.repository import AgentRepository, create_tables, open_engine
from services.agent.settings import AgentSettings
from services.tools.builtin.slow_task import progress_path
from shared import subjects
from shared.bus import EventPublisher
from shared.wire import tools
from shared.wire.events import (
    AgentStarted,
    AgentStartedData,
    ToolExecuting,
    ToolExecutingData,
)
from shared.wire.runs import RunStarted
from tests.component.agent.conftest import StartAgent, StartTools
from tests.component.agent.support import (
    Watch,
    assert_one_run_well_formed,
    new_user,
    submit,
    whole,
)

pytestmark = pytest.mark.both_databases  # SQLite, then PostgreSQL: tests/component/conftest.py


async def started_run(nc: NATS, user: str, content: str) -> RunStarted:
    reply = await submit(nc, user_id=user, content=content)
    assert isinstance(reply, RunStarted), reply
    return reply


async def test_a_tool_hanging_past_its_time_limit_fails_the_run_as_tool_timeout(
    nc: NATS, agent: AgentNode, start_tools: StartTools, progress_dir: Path, watch: Watch
) -> None:
    await start_tools(tool_timeout_s=0.5)
    user = new_user()
    feed = await watch(user)

    run = await started_run(nc, user, "slow_task seconds=30 steps=300 label=hangs")

    events = await feed.until_terminal()
    assert_one_run_well_formed(events, run.run_id)
    completed = next(e for e in events if e.type == "tool_completed")
    assert completed.data["error"]["code"] == "tool_timeout"
    assert (events[-1].type, events[-1].data["code"]) == ("agent_failed", "tool_timeout")
    steps = progress_path(progress_dir, "hangs").read_text()
    await asyncio.sleep(0.3)  # three steps' worth: the timed-out tool takes none of them
    assert progress_path(progress_dir, "hangs").read_text() == steps


class VanishingToolRunner:
    """Starts every call, heartbeats twice, then falls silent for good: a runner killed mid-tool."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._events = EventPublisher(nc.jetstream())

    async def start(self) -> None:
        await self._nc.subscribe(subjects.tool_call_wildcard(), cb=self._on_call)

    async def _on_call(self, msg: Msg) -> None:
        call = tools.decode_tool_call(msg.data)
        data = ToolExecutingData(
            tool_call_id=call.tool_call_id, tool_name=call.tool_name, parameters=call.parameters
        )
        executing = ToolExecuting(run_id=call.run_id, thread_id=call.thread_id, data=data)
        await self._events.publish(call.user_id, executing)
        for _ in range(2):
            await self._nc.publish(subjects.tool_heartbeat(call.tool_call_id), b"running")
            await asyncio.sleep(0.2)


async def test_a_tool_runner_that_dies_mid_tool_is_noticed_and_its_call_completed_for_it(
    nc: NATS, start_agent: StartAgent, watch: Watch
) -> None:
    await start_agent(tool_heartbeat_timeout_s=1.0)
    await VanishingToolRunner(nc).start()
    user = new_user()
    feed = await watch(user)
    began = asyncio.get_running_loop().time()

    run = await started_run(nc, user, "latency")

    events = await feed.until_terminal(timeout_s=15)
    assert_one_run_well_formed(events, run.run_id)
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["tool_completed", "agent_failed"]
    assert events[-2].data["error"]["code"] == events[-1].data["code"] == "tool_lost"
    assert asyncio.get_running_loop().time() - began < 10


async def seed_dead_agents_run(
    engine: AsyncEngine, publisher: EventPublisher, user: str
) -> tuple[str, str]:
    """What a killed agent leaves behind: a run mid-tool, its lease run out, its call open."""
    repository, dead = AgentRepository(engine), RunLedger(engine, owner="killed", lease_s=-1)
    run = await repository.create_run(user_id=user, content="latency")
    await dead.promote(run.thread_id)
    ids = {"run_id": run.id, "thread_id": run.thread_id}
    started = AgentStartedData(agent_id="infra_analyst_x", message="Starting")
    await publisher.publish(user, AgentStarted(**ids, data=started))
    await dead.mark_started(run.id)
    # A fresh call id: the stream drops a tool_completed whose id it stored in the last two
    # minutes (this test runs once per database, on one nats-server).
    call_id = f"call-of-the-dead-{uuid.uuid4().hex[:8]}"
    await dead.open_call(call_id, run.id, "analyze_performance", {})
    executing = ToolExecutingData(
        tool_call_id=call_id, tool_name="analyze_performance", parameters={}
    )
    await publisher.publish(user, ToolExecuting(**ids, data=executing))
    await dead.call_stage(call_id, CallStage.RUNNING)
    await dead.close()  # its writes behind are flushed, as they were before it was killed
    return run.id, run.thread_id


async def test_a_dead_agents_run_is_taken_over_and_ends_agent_lost_after_its_open_call(
    nc: NATS, start_agent: StartAgent, agent_settings: AgentSettings, watch: Watch
) -> None:
    user = new_user()
    feed = await watch(user)
    engine = open_engine(agent_settings.database_url)
    try:
        await create_tables(engine)
        run_id, _ = await seed_dead_agents_run(engine, EventPublisher(nc.jetstream()), user)
    finally:
        await engine.dispose()

    await start_agent(run_lease_s=1.0)  # its sweeper looks three times a second

    events = await feed.until_terminal(timeout_s=10)
    assert_one_run_well_formed(events, run_id)
    kinds = [e.type for e in events]
    assert kinds == ["agent_started", "tool_executing", "tool_completed", "agent_failed"]
    assert events[2].data["error"]["code"] == events[3].data["code"] == "agent_lost"


async def test_a_cancel_whose_broadcast_was_missed_is_found_at_the_next_lease_renewal(
    nc: NATS, start_agent: StartAgent, start_tools: StartTools, watch: Watch
) -> None:
    node = await start_agent(run_lease_s=1.0)
    await start_tools()
    user = new_user()
    feed = await watch(user)
    run = await started_run(nc, user, "slow_task seconds=30 steps=30")
    await feed.until(lambda event: event.type == "tool_executing")
    assert node.ledger is not None

    await node.ledger.request_cancel(run.run_id)  # recorded, never broadcast

    events = await feed.until_terminal(timeout_s=10)
    assert whole(events) == ["tool_completed", "agent_cancelled"]
    assert events[0].data["error"]["code"] == "cancelled"


async def test_a_run_over_its_time_budget_fails_as_run_timeout_and_its_tool_stops(
    nc: NATS, start_agent: StartAgent, start_tools: StartTools, watch: Watch
) -> None:
    await start_agent(run_timeout_s=1.0)
    await start_tools()
    user = new_user()
    feed = await watch(user)

    run = await started_run(nc, user, "slow_task seconds=30 steps=30")

    events = await feed.until_terminal(timeout_s=10)
    assert_one_run_well_formed(events, run.run_id)
    assert (events[-1].type, events[-1].data["code"]) == ("agent_failed", "run_timeout")
    assert events[-2].type == "tool_completed" and events[-2].data["error"]["code"] == "cancelled"
