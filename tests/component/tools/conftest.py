"""A tool runner in the test's event loop against the real nats-server, and a user's view of it.

The runner gets the built-in tools plus two made for tests, ``explode`` (raises) and ``sleepy``
(sleeps as long as it is told), so a test can make a tool misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from services.tools.builtin import builtin_registry
from services.tools.bus import ToolRunnerNode
from services.tools.registry import Parameters, Registry, Tool
from services.tools.settings import ToolsSettings
from shared import subjects
from shared.settings import Env

StartRunner = Callable[..., Awaitable[ToolRunnerNode]]


class SleepParams(Parameters):
    seconds: float = 1.0


async def explode(params: Parameters) -> None:
    raise RuntimeError("boom")


async def sleepy(params: SleepParams) -> dict[str, float]:
    await asyncio.sleep(params.seconds)
    return {"slept_s": params.seconds}


class HugeParams(Parameters):
    megabytes: float = 2.0


async def huge(params: HugeParams) -> dict[str, str]:
    """A result bigger than the bus carries (nats-server's default limit is 1 MiB)."""
    return {"blob": "x" * int(params.megabytes * 1024 * 1024)}


def registry_for_tests() -> Registry:
    registry = builtin_registry()
    registry.add(Tool("huge", "returns `megabytes` of result", HugeParams, huge))
    registry.add(Tool("explode", "always raises", Parameters, explode))
    registry.add(Tool("sleepy", "sleeps for `seconds`", SleepParams, sleepy))
    return registry


def tools_settings(nats_url: str, **env: str) -> ToolsSettings:
    return ToolsSettings.from_env(Env({"NATS_URL": nats_url, **env}))


@pytest.fixture
async def start_runner(nats_url: str, nc: nats.aio.client.Client) -> AsyncIterator[StartRunner]:
    """Start a tool runner with the given environment; every one started is stopped after.

    It returns once the server routes calls to the runner, so timing-sensitive tests start level.
    """
    nodes: list[ToolRunnerNode] = []

    async def start(**env: str) -> ToolRunnerNode:
        node = ToolRunnerNode(tools_settings(nats_url, **env), registry_for_tests())
        await node.start()
        nodes.append(node)
        # A malformed call to a tool it has: answered, and no events.
        await request_when_served(nc, subjects.tool_call("estimate_savings"), b"")
        return node

    yield start
    for node in nodes:
        await node.stop()


@pytest.fixture
def user_id() -> str:
    return uuid.uuid4().hex  # the server is shared by the whole session


class UserEvents:
    """A user's live events as a gateway receives them: a core subscription, no JetStream."""

    def __init__(self, sub: nats.aio.subscription.Subscription) -> None:
        self._sub = sub
        self.progress: list[tuple[int, dict[str, Any]]] = []  # the tool_progress skipped

    async def next(self) -> tuple[int, dict[str, Any]]:
        """The next event other than tool_progress (kept in :attr:`progress`): its stream
        sequence and its JSON, exactly as it travels."""
        while True:
            seq, event = await self.next_any()
            if event["type"] != "tool_progress":
                return seq, event
            self.progress.append((seq, event))

    async def next_any(self) -> tuple[int, dict[str, Any]]:
        msg = await self._sub.next_msg(timeout=3.0)
        return int(msg.headers["Nats-Sequence"]), msgspec.json.decode(msg.data)


@pytest.fixture
async def events(nc: nats.aio.client.Client, user_id: str) -> AsyncIterator[UserEvents]:
    sub = await nc.subscribe(subjects.live_user_events(user_id))
    await nc.flush()  # the server knows of the subscription before any test publishes
    yield UserEvents(sub)
    await sub.unsubscribe()  # unread events would otherwise hold up the client's drain


async def request_when_served(nc: nats.aio.client.Client, subject: str, payload: bytes) -> Msg:
    """A request, retried while the server still answers "no responders".

    nats-server can take a few milliseconds to route to a subscription made (and flushed) on
    another connection, so a request sent the instant a runner is ready may bounce with 503.
    """
    for _ in range(40):
        try:
            return await nc.request(subject, payload, timeout=5)
        except NoRespondersError:
            await asyncio.sleep(0.025)
    return await nc.request(subject, payload, timeout=5)
