"""Bring your own agent, end to end: SDK agents and the LLM agent under the real run host.

One deployment with the built-in analyst, the agents of ``sample_agents`` and the LLM agent on a
fake OpenAI server (a real HTTP process speaking the streaming wire format). Users see:

- ``list_agents`` names every agent; a message names one, or gets the default; an unknown name
  is an ``error`` frame and nothing runs;
- an agent that raises, one that never returns, one that ignores Stop: each run ends with
  exactly one terminal event;
- the LLM agent streams reasoning as a thought and text as the answer, runs the model's tool
  calls through the tool runner (and hands the results back with their tool_call_id), recovers
  from a tool error, maps 401 / 429 / 5xx / a cut stream / a malformed chunk to named failures,
  and a Stop closes the model's stream at once.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from devstack.stack import Stack
from shared.wire.events import TERMINAL_TYPES
from tests.fakes.openai_fixture import FakeOpenAI, fake_openai, fake_openai_url  # noqa: F401
from tests.fakes.openai_script import http_error, malformed, pause, reasoning, reply, text
from tests.fakes.openai_script import tool_call as model_calls
from tests.integration.client import connect, ring_token, send
from tests.integration.conftest import running_stack

pytestmark = pytest.mark.integration

Frame = dict[str, Any]
SAMPLES = "tests.integration.sample_agents"
REGISTERED = ("echo", "tool_user", "raiser", "refuser", "forever", "stubborn")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_openai_url: str) -> Iterator[Stack]:  # noqa: F811
    yield from running_stack(
        tmp_path_factory,
        "agents",
        AGENTS=",".join(f"{SAMPLES}:{name}" for name in REGISTERED),
        DEFAULT_AGENT="infra_analyst",
        LLM_BASE_URL=f"{fake_openai_url}/v1",
        LLM_MODEL="fake-model",
        LLM_API_KEY="sk-test-secret",
        LLM_MAX_RETRIES="2",
        RUN_TIMEOUT_S="4",
        RUN_STOP_GRACE_S="1",
    )


class User:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.token = ring_token(stack, f"a-{uuid.uuid4().hex[:12]}")
        self.ws: websockets.ClientConnection | None = None
        self.frames: list[Frame] = []

    async def __aenter__(self) -> User:
        self.ws = await connect(f"{self.stack.ws_url}?deltas=1", self.token, max_size=None)
        await self.until(lambda f: f["type"] == "caught_up")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def until(self, done: Any, timeout_s: float = 20) -> Frame:
        assert self.ws is not None
        async with asyncio.timeout(timeout_s):
            while True:
                frame = json.loads(await self.ws.recv())
                self.frames.append(frame)
                if done(frame):
                    return frame

    async def ask(self, content: str, agent: str | None = None) -> Frame:
        """Send a message; the ``run_accepted`` (or ``error``) that answers it."""
        assert self.ws is not None
        frame: Frame = {"type": "message", "content": content}
        if agent is not None:
            frame["agent"] = agent
        await send(self.ws, frame)
        return await self.until(lambda f: f["type"] in ("run_accepted", "error"))

    async def run(self, content: str, agent: str | None = None) -> list[Frame]:
        """The events of the run the message started, through its terminal event."""
        accepted = await self.ask(content, agent)
        assert accepted["type"] == "run_accepted", accepted
        run_id = accepted["run_id"]
        await self.until(lambda f: f.get("run_id") == run_id and f["type"] in TERMINAL_TYPES)
        return [f for f in self.frames if f.get("run_id") == run_id and "seq" in f]


def terminal(events: list[Frame]) -> Frame:
    ends = [f for f in events if f["type"] in TERMINAL_TYPES]
    assert len(ends) == 1 and ends[0] is events[-1], [f["type"] for f in events]
    return ends[0]


def streamed(events: list[Frame], message_id: str) -> str:
    return "".join(
        f["data"]["delta"]
        for f in events
        if f["type"] == "message_delta" and f["data"]["message_id"] == message_id
    )


# Choosing an agent


async def test_agents_are_listed_and_a_message_runs_on_the_one_it_names(stack: Stack) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        await send(user.ws, {"type": "list_agents"})
        listed = await user.until(lambda f: f["type"] == "agents")
        names = [a["name"] for a in listed["agents"]]
        assert names[0] == "infra_analyst" and listed["agents"][0]["default"] is True
        assert set(names) == {"infra_analyst", "llm", *REGISTERED}
        assert all(a["description"] for a in listed["agents"])

        echoed = await user.run("hello there", agent="echo")
        assert terminal(echoed)["data"]["result"] == "echo: hello there"
        assert echoed[0]["data"]["agent_id"].startswith("echo_")
        default = await user.run("Why is the api slow?")
        assert terminal(default)["type"] == "agent_completed"
        assert default[0]["data"]["agent_id"].startswith("infra_analyst_")


async def test_a_name_no_agent_has_is_an_error_and_nothing_runs(stack: Stack) -> None:
    async with User(stack) as user:
        refused = await user.ask("hello", agent="nobody")
        assert refused["type"] == "error" and refused["data"]["code"] == "unknown_agent"
        assert "echo" in refused["data"]["message"]
        bad = await user.ask("hello", agent="a.b")
        assert bad["type"] == "error" and bad["data"]["code"] == "invalid_id"
        assert not [f for f in user.frames if "seq" in f]


async def test_an_sdk_agent_calls_tools_recovers_from_a_failed_one_and_streams(
    stack: Stack,
) -> None:
    async with User(stack) as user:
        events = await user.run("how are we doing?", agent="tool_user")
    kinds = [f["type"] for f in events]
    # A call the tool runner refuses (bad parameters) never ran: it shows no tool events.
    assert kinds.count("tool_executing") == kinds.count("tool_completed") == 1
    [recovery] = [f["data"]["thought"] for f in events if f["type"] == "agent_thinking"]
    assert recovery == "That failed (invalid_parameters); trying latency instead"
    end = terminal(events)
    assert end["type"] == "agent_completed" and end["data"]["result"].startswith("The worst")
    assert streamed(events, end["data"]["message_id"]) == end["data"]["result"]


# Agents that misbehave still end once


async def test_an_agent_that_raises_fails_without_showing_its_exception(stack: Stack) -> None:
    async with User(stack) as user:
        crashed = terminal(await user.run("go", agent="raiser"))
        refused = terminal(await user.run("dogs?", agent="refuser"))
    assert crashed["type"] == "agent_failed" and crashed["data"]["code"] == "agent_error"
    assert "hunter2" not in json.dumps(crashed)
    assert (refused["data"]["code"], refused["data"]["message"]) == (
        "out_of_scope",
        "I only talk about cats",
    )


async def test_an_agent_that_never_returns_ends_at_its_budget(stack: Stack) -> None:
    async with User(stack) as user:
        end = terminal(await user.run("go", agent="forever"))
    assert end["type"] == "agent_failed" and end["data"]["code"] == "run_timeout"


async def test_an_agent_that_ignores_stop_is_cancelled_anyway(stack: Stack) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        accepted = await user.ask("go", agent="stubborn")
        await user.until(lambda f: f["type"] == "agent_started")
        await send(user.ws, {"type": "cancel", "run_id": accepted["run_id"]})
        end = await user.until(lambda f: f["type"] in TERMINAL_TYPES, timeout_s=10)
    assert end["type"] == "agent_cancelled"


# The LLM agent on an OpenAI-compatible endpoint


async def test_the_llm_agent_thinks_calls_two_tools_and_streams_its_answer(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    await fake_openai.script(
        reply(
            reasoning("The user wants latency and cost; I will ask both tools."),
            model_calls("call_perf", "analyze_performance", {"metric": "latency_ms"}),
            model_calls("call_cost", "estimate_savings", {}, index=1),
            usage=(100, 20),
        ),
        reply(text("The db is slowest, and right-sizing saves money."), usage=(300, 12)),
    )
    async with User(stack) as user:
        events = await user.run("How is latency, and what could we save?", agent="llm")
    end = terminal(events)
    assert end["type"] == "agent_completed"
    assert end["data"]["result"] == "The db is slowest, and right-sizing saves money."
    assert streamed(events, end["data"]["message_id"]) == end["data"]["result"]
    assert end["data"]["usage"] == {"input_tokens": 400, "output_tokens": 32}
    thought = next(f for f in events if f["type"] == "agent_thinking")
    assert thought["data"]["thought"].startswith("The user wants latency")
    tools = {f["data"]["tool_name"] for f in events if f["type"] == "tool_completed"}
    assert tools == {"analyze_performance", "estimate_savings"}
    first, second = await fake_openai.bodies()
    offered = {tool["function"]["name"] for tool in first["tools"]}
    assert {"analyze_performance", "estimate_savings", "detect_anomalies"} <= offered
    answers = {m["tool_call_id"]: m for m in second["messages"] if m["role"] == "tool"}
    assert set(answers) == {"call_perf", "call_cost"}
    assert "worst_service" in answers["call_perf"]["content"]


async def test_a_tool_error_goes_back_to_the_model_which_recovers(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    await fake_openai.script(
        reply(model_calls("call_bad", "analyze_performance", {"metric": "bogus"})),
        reply(text("That metric does not exist; latency is fine.")),
    )
    async with User(stack) as user:
        end = terminal(await user.run("check bogus", agent="llm"))
    assert end["type"] == "agent_completed"
    second = (await fake_openai.bodies())[1]
    [tool_answer] = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_answer["tool_call_id"] == "call_bad"
    assert "invalid_parameters" in tool_answer["content"]


@pytest.mark.parametrize(
    ("script", "code"),
    [
        ([http_error(401, "bad key")], "llm_unauthorized"),
        ([http_error(429, "slow", headers={"Retry-After": "0"}), reply(text("ok now"))], None),
        ([http_error(500), reply(text("ok now"))], None),
        ([http_error(503)] * 3, "llm_unavailable"),
        ([reply(text("half an ans"), end="eof")], "llm_protocol_error"),
        ([reply(text("broken"), malformed())], "llm_protocol_error"),
    ],
    ids=["401", "429-then-ok", "500-then-ok", "503-spent", "cut", "malformed"],
)
async def test_the_llm_endpoint_failing_is_named_or_retried(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
    script: list[Any],
    code: str | None,
) -> None:
    await fake_openai.script(*script)
    async with User(stack) as user:
        end = terminal(await user.run("hi", agent="llm"))
    if code is None:
        assert (end["type"], end["data"]["result"]) == ("agent_completed", "ok now")
    else:
        assert (end["type"], end["data"]["code"]) == ("agent_failed", code)
        assert "sk-test-secret" not in json.dumps(end)


async def test_stop_closes_the_models_stream_at_once(
    stack: Stack,
    fake_openai: FakeOpenAI,  # noqa: F811
) -> None:
    await fake_openai.script(reply(text("one two three"), pause(30), text("never")))
    async with User(stack) as user:
        assert user.ws is not None
        accepted = await user.ask("talk slowly", agent="llm")
        await user.until(lambda f: f["type"] == "message_delta")
        await send(user.ws, {"type": "cancel", "run_id": accepted["run_id"]})
        end = await user.until(lambda f: f["type"] in TERMINAL_TYPES)
    assert end["type"] == "agent_cancelled"
    assert await fake_openai.wait_for_disconnect(0, timeout_s=3) < 3
