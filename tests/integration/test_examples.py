"""The examples, registered as the README says (``AGENTS=examples.hello_agent:hello,...``,
``MCP_SERVERS`` naming ``examples.mcp_server``), in a real deployment: the agent service imports
the agents from the repository root, lists them, and runs them under the real run host and tool
runner. The pydantic-ai agent talks to a fake OpenAI server (a real HTTP process speaking the
streaming wire format) through pydantic-ai's own OpenAI client."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest

from devstack.stack import Stack
from tests.fakes.openai_fixture import FakeOpenAI, fake_openai, fake_openai_url  # noqa: F401
from tests.fakes.openai_script import http_error, reasoning, reply, text, tool_call
from tests.integration.client import send
from tests.integration.conftest import LogSink
from tests.integration.test_agents import User, streamed, terminal

pytestmark = pytest.mark.integration

AGENTS = "examples.hello_agent:hello,examples.pydantic_ai_agent:assistant"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_openai_url: str) -> Iterator[Stack]:  # noqa: F811
    data_dir = tmp_path_factory.mktemp("examples")
    extra = {
        "THINK_DELAY_S": "0",
        "STREAM_TOKENS_PER_S": "0",
        "AGENTS": AGENTS,
        "DEFAULT_AGENT": "hello",
        "LLM_BASE_URL": f"{fake_openai_url}/v1",
        "LLM_MODEL": "fake-model",
        "LLM_API_KEY": "sk-test-secret",
        "MCP_SERVERS": json.dumps(
            {"units": {"command": [sys.executable, "-m", "examples.mcp_server"]}}
        ),
    }
    running = Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra)
    try:
        running.start(timeout_s=60)
        yield running
    finally:
        running.stop()


async def test_hello_is_listed_as_the_default_and_answers_from_the_real_tool(stack: Stack) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        await send(user.ws, {"type": "list_agents"})
        listed = await user.until(lambda f: f["type"] == "agents")
        events = await user.run("hi there")
    first = listed["agents"][0]
    assert (first["name"], first["default"]) == ("hello", True)
    assert first["description"] == "Says hello and names the slowest sample service"
    assert "assistant" in [agent["name"] for agent in listed["agents"]]

    assert events[0]["type"] == "agent_started" and events[0]["data"]["agent_id"].startswith(
        "hello"
    )
    [thought] = [f["data"]["thought"] for f in events if f["type"] == "agent_thinking"]
    assert thought == "Someone said 'hi there'. Let me see which service is slowest today."
    [tool] = [f["data"] for f in events if f["type"] == "tool_completed"]
    assert tool["tool_name"] == "analyze_performance" and "error" not in tool
    end = terminal(events)
    slowest = tool["result"]["worst_service"]
    assert end["data"]["result"] == (
        f"Hello! You said 'hi there', and the slowest service today is {slowest}."
    )
    assert streamed(events, end["data"]["message_id"]) == end["data"]["result"]


async def test_the_pydantic_ai_agent_thinks_calls_a_tool_and_streams_its_answer(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    await fake_openai.script(
        reply(
            reasoning("Latency is what the tool measures."),
            tool_call("call_perf", "analyze_performance", {"metric": "latency_ms"}),
            usage=(100, 20),
        ),
        reply(text("The db is the slowest service."), usage=(300, 12)),
    )
    async with User(stack) as user:
        events = await user.run("Why is the api slow?", agent="assistant")

    end = terminal(events)
    assert end["type"] == "agent_completed", end
    assert end["data"]["result"] == "The db is the slowest service."
    assert streamed(events, end["data"]["message_id"]) == end["data"]["result"]
    assert end["data"]["usage"] == {"input_tokens": 400, "output_tokens": 32}
    [thought] = [f["data"]["thought"] for f in events if f["type"] == "agent_thinking"]
    assert thought == "Latency is what the tool measures."
    [tool] = [f["data"] for f in events if f["type"] == "tool_completed"]
    assert tool["tool_name"] == "analyze_performance" and "error" not in tool
    first, second = await fake_openai.bodies()
    offered = {t["function"]["name"] for t in first["tools"]}
    assert {"analyze_performance", "detect_anomalies", "estimate_savings"} <= offered
    [answer] = [m for m in second["messages"] if m["role"] == "tool"]
    assert answer["tool_call_id"] == "call_perf" and "worst_service" in answer["content"]


async def test_the_example_mcp_servers_tool_is_offered_and_called_through_the_tool_runner(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    arguments = {"value": 1500, "from_unit": "ms", "to_unit": "s"}
    await fake_openai.script(
        reply(tool_call("call_units", "units__convert", arguments)),
        reply(text("That is 1.5 seconds.")),
    )
    async with User(stack) as user:
        events = await user.run("How many seconds is 1500 ms?", agent="assistant")

    assert terminal(events)["data"]["result"] == "That is 1.5 seconds."
    [tool] = [f["data"] for f in events if f["type"] == "tool_completed"]
    assert (tool["tool_name"], tool["result"]) == ("units__convert", {"value": 1.5, "unit": "s"})
    first, second = await fake_openai.bodies()
    [offered] = [t for t in first["tools"] if t["function"]["name"] == "units__convert"]
    assert "duration" in offered["function"]["description"]
    [answer] = [m for m in second["messages"] if m["role"] == "tool"]
    assert answer["tool_call_id"] == "call_units" and "1.5" in answer["content"]


async def test_the_pydantic_ai_agent_names_a_refused_key_without_showing_it(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    await fake_openai.script(http_error(401, "bad key"))
    async with User(stack) as user:
        end = terminal(await user.run("hi", agent="assistant"))

    assert (end["type"], end["data"]["code"]) == ("agent_failed", "llm_unauthorized")
    assert "sk-test-secret" not in json.dumps(end)
