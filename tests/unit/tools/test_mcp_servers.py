"""Which of an MCP server's tools join the registry, under which names, and which leave it."""

from __future__ import annotations

from typing import Any

from mcp_types import Tool as McpTool

from services.tools.mcp_servers import McpServers, is_mcp_tool
from services.tools.mcp_servers.config import McpServerConfig
from services.tools.mcp_servers.link import McpLink
from services.tools.registry import Registry, Tool

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}


def mcp_tool(name: str, description: str | None = "reads a file") -> McpTool:
    return McpTool(name=name, description=description, input_schema=SCHEMA)


class Offers:
    """What the bus was told: the names offered and withdrawn, in order."""

    def __init__(self) -> None:
        self.said: list[str] = []

    async def offer(self, name: str) -> None:
        self.said.append(f"+{name}")

    async def withdraw(self, name: str) -> None:
        self.said.append(f"-{name}")


def servers(registry: Registry, offers: Offers, **options: Any) -> tuple[McpServers, McpLink]:
    config = McpServerConfig(name="files", command=("files-server",), timeout_s=9.0)
    manager = McpServers(
        [config], registry, offer=offers.offer, withdraw=offers.withdraw, **options
    )
    return manager, manager._links[0]


async def test_a_servers_tools_join_as_server__tool_with_their_schema_and_its_time_limit() -> None:
    registry, offers = Registry(), Offers()
    manager, link = servers(registry, offers)

    await manager._up(link, [mcp_tool("read"), mcp_tool("stat", description=None)])

    read = registry.get("files__read")
    assert (read.description, read.schema(), read.timeout_s) == ("reads a file", SCHEMA, 9.0)
    assert read.reports_progress  # the server's progress notifications become tool_progress
    assert registry.get("files__stat").description == "stat"  # no description: its name
    assert offers.said == ["+files__read", "+files__stat"]


async def test_names_that_are_no_subject_token_or_taken_by_a_builtin_are_skipped() -> None:
    registry, offers = Registry([Tool("files__taken", "a built-in", SCHEMA, _never)]), Offers()
    manager, link = servers(registry, offers)

    await manager._up(link, [mcp_tool("bad.name"), mcp_tool("x" * 60), mcp_tool("taken")])

    assert offers.said == []
    assert registry.names() == ["files__taken"]
    assert registry.get("files__taken").description == "a built-in"


async def test_a_tool_gone_from_a_new_listing_is_withdrawn_and_a_lost_server_takes_all() -> None:
    registry, offers = Registry(), Offers()
    manager, link = servers(registry, offers)
    await manager._up(link, [mcp_tool("read"), mcp_tool("write")])

    await manager._up(link, [mcp_tool("read", description="reads, now faster")])
    assert "files__write" not in registry
    assert registry.get("files__read").description == "reads, now faster"

    await manager._down(link)
    assert registry.names() == []
    assert offers.said[-1] == "-files__read" and "-files__write" in offers.said


async def test_an_override_from_tool_timeout_overrides_beats_the_servers_timeout() -> None:
    registry = Registry()
    manager, link = servers(registry, Offers(), timeouts={"files__read": 2.5})

    await manager._up(link, [mcp_tool("read")])

    assert registry.get("files__read").timeout_s == 2.5


def test_an_override_is_known_as_an_mcp_tool_by_its_servers_prefix() -> None:
    configs = [McpServerConfig(name="files", command=("x",))]
    assert is_mcp_tool("files__read", configs)
    assert not is_mcp_tool("filesystem", configs) and not is_mcp_tool("slow_task", configs)


async def _never(params: Any) -> None:
    raise AssertionError("not run here")
