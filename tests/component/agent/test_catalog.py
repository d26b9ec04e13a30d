"""The tool catalog as an agent reads it: every runner's tools, merged, on a real nats-server."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from nats.aio.client import Client as NATS

from services.agent.catalog import ToolCatalog, gather_tools
from services.tools.bus import ToolRunnerNode
from services.tools.registry import Parameters, Registry, Tool
from services.tools.settings import ToolsSettings
from shared.settings import NatsSettings

StartRunner = Callable[..., Awaitable[ToolRunnerNode]]


class Query(Parameters):
    q: str


async def nothing(params: Parameters) -> None:
    return None


def tool(name: str, description: str = "a tool") -> Tool:
    return Tool(name, description, Query, nothing)


@pytest.fixture
async def start_runner(nats_url: str) -> AsyncIterator[StartRunner]:
    nodes: list[ToolRunnerNode] = []

    async def start(*tools: Tool) -> ToolRunnerNode:
        node = ToolRunnerNode(ToolsSettings(nats=NatsSettings(url=nats_url)), Registry(tools))
        await node.start()
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        await node.stop()


async def test_the_tools_of_every_runner_are_merged_once_each_sorted_by_name(
    start_runner: StartRunner, nc: NATS
) -> None:
    await start_runner(tool("search_docs", "first"), tool("shared_tool", "from runner one"))
    await start_runner(tool("read_file"), tool("shared_tool", "from runner one"))

    specs = await gather_tools(nc, expected=2)

    assert [spec.name for spec in specs] == ["read_file", "search_docs", "shared_tool"]
    search = specs[1]
    assert search.description == "first"
    assert search.parameters["required"] == ["q"]
    assert search.parameters["properties"]["q"]["type"] == "string"


async def test_no_runner_means_no_tools_without_waiting_out_the_window(nc: NATS) -> None:
    started = time.monotonic()

    assert await gather_tools(nc, wait_s=2.0) == []
    assert time.monotonic() - started < 1.0  # nats-server said at once that nobody listens


async def test_the_catalog_is_kept_for_its_ttl_then_asked_again(
    start_runner: StartRunner, nc: NATS
) -> None:
    await start_runner(tool("first_tool"))
    catalog = ToolCatalog(nc, ttl_s=60)
    assert [spec.name for spec in await catalog.tools()] == ["first_tool"]

    await start_runner(tool("second_tool"))
    assert [spec.name for spec in await catalog.tools()] == ["first_tool"]  # cached
    catalog.forget()
    assert [spec.name for spec in await catalog.tools()] == ["first_tool", "second_tool"]


async def test_an_empty_answer_is_not_kept(start_runner: StartRunner, nc: NATS) -> None:
    catalog = ToolCatalog(nc, ttl_s=60, wait_s=0.2)
    assert await catalog.tools() == []

    await start_runner(tool("late_tool"))
    assert [spec.name for spec in await catalog.tools()] == ["late_tool"]
