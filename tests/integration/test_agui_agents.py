"""AG-UI in, end to end: a real AG-UI server, pydantic-ai's own AG-UI adapter on its offline
FunctionModel (``tests.fakes.agui_server``, its own process), registered as an agent by URL
(``AGUI_AGENTS``) in a real deployment. Users see:

- it listed; a message reaches it (the thread's history with it), and its text streams back as
  the answer;
- its reasoning as a thought, and a tool it asks for run by the real tool runner, the result sent
  back to it in a new AG-UI run, and its answer built on that result;
- its own tool that needs a person's approval (an AG-UI ``interrupt``) asked as an agentwire
  approval; approved, the server runs it, denied, it does not;
- its RUN_ERROR as agent_failed ``agui_error`` with its message; a server gone silent ends the run
  ``agui_unavailable``;
- Stop aborts the HTTP request at once: the server sees the client leave.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from devstack.stack import Stack
from shared.wire.events import TERMINAL_TYPES
from tests.fakes.agui_fixture import AguiServer, agui_server, agui_server_url  # noqa: F401
from tests.integration.client import send
from tests.integration.conftest import LogSink
from tests.integration.test_agents import User, streamed, terminal

pytestmark = pytest.mark.integration

SILENCE_S = 2  # AGUI_READ_TIMEOUT_S: the server's 30 s pause is silence past it


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, agui_server_url: str) -> Iterator[Stack]:  # noqa: F811
    data_dir = tmp_path_factory.mktemp("agui")
    extra = {
        "THINK_DELAY_S": "0",
        "STREAM_TOKENS_PER_S": "0",
        "AGUI_AGENTS": f"remote={agui_server_url}/agent",
        "AGUI_READ_TIMEOUT_S": str(SILENCE_S),
        "RUN_TIMEOUT_S": "20",
    }
    running = Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra)
    try:
        running.start(timeout_s=60)
        yield running
    finally:
        running.stop()


async def test_it_is_listed_a_message_reaches_it_and_its_text_streams_back(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        await send(user.ws, {"type": "list_agents"})
        listed = await user.until(lambda f: f["type"] == "agents")
        events = await user.run("hello there", agent="remote")

    [remote] = [a for a in listed["agents"] if a["name"] == "remote"]
    assert remote["description"] == f"An AG-UI agent at {agui_server.endpoint}"
    end = terminal(events)
    assert end["type"] == "agent_completed", end
    assert end["data"]["result"] == "You said: hello there (1 messages)"
    assert streamed(events, end["data"]["message_id"]) == end["data"]["result"]
    [body] = await agui_server.bodies()
    assert body["messages"][-1] == {
        "role": "user",
        "id": f"{end['run_id']}.user",
        "content": "hello there",
    }
    offered = {tool["name"] for tool in body["tools"]}
    assert {"analyze_performance", "detect_anomalies", "estimate_savings"} <= offered


async def test_the_next_message_in_the_thread_carries_the_history(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        first = terminal(await user.run("one", agent="remote"))
        frame = {"type": "message", "content": "two", "agent": "remote"}
        await send(user.ws, frame | {"thread_id": first["thread_id"]})
        accepted = await user.until(lambda f: f["type"] == "run_accepted")
        end = await user.until(
            lambda f: f.get("run_id") == accepted["run_id"] and f["type"] in TERMINAL_TYPES
        )

    assert end["data"]["result"] == "You said: two (3 messages)"
    second = (await agui_server.bodies())[1]
    sent = [(m["role"], m.get("content")) for m in second["messages"]]
    assert sent == [
        ("user", "one"),
        ("assistant", "You said: one (1 messages)"),
        ("user", "two"),
    ]


async def test_its_tool_call_runs_in_the_tool_runner_and_the_result_goes_back_to_it(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
) -> None:
    async with User(stack) as user:
        events = await user.run("Which service is slow? Use the tool.", agent="remote")

    thoughts = [f["data"]["thought"] for f in events if f["type"] == "agent_thinking"]
    assert thoughts == ["Latency is what the tool measures.", "Let me look."]
    executing = next(f["data"] for f in events if f["type"] == "tool_executing")
    assert executing["parameters"]["metric"] == "latency_ms"  # the runner adds its defaults
    [tool] = [f["data"] for f in events if f["type"] == "tool_completed"]
    assert tool["tool_name"] == "analyze_performance" and "error" not in tool
    worst = tool["result"]["worst_service"]
    end = terminal(events)
    assert end["data"]["result"] == f"The slowest service is {worst}."
    assert streamed(events, end["data"]["message_id"]) == end["data"]["result"]
    first, second = await agui_server.bodies()
    assert second["runId"] != first["runId"]
    asked, answered = second["messages"][-2:]
    assert asked["toolCalls"][0]["function"]["name"] == "analyze_performance"
    assert answered["toolCallId"] == asked["toolCalls"][0]["id"]
    assert json.loads(answered["content"])["worst_service"] == worst


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_its_interrupt_is_an_approval_and_the_decision_resumes_it(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
    decision: str,
) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        accepted = await user.ask("please restart the db", agent="remote")
        asked = await user.until(lambda f: f["type"] == "approval_requested")
        await send(user.ws, {"type": decision, "approval_id": asked["data"]["approval_id"]})
        await user.until(
            lambda f: f.get("run_id") == accepted["run_id"] and f["type"] in TERMINAL_TYPES
        )
    events = [f for f in user.frames if f.get("run_id") == accepted["run_id"] and "seq" in f]

    assert asked["data"]["question"] == 'Approve restart_service({"service":"db"})?'
    end = terminal(events)
    expected = "Restarted db." if decision == "approve" else "I did not restart db."
    assert (end["type"], end["data"]["result"]) == ("agent_completed", expected)
    [tool] = [f["data"] for f in events if f["type"] == "tool_completed"]
    assert tool["tool_name"] == "restart_service"
    first, second = await agui_server.bodies()
    assert "resume" not in first
    [entry] = second["resume"]
    assert entry["payload"] == {"approved": decision == "approve"}


async def test_its_run_error_fails_the_run_with_its_message(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
) -> None:
    async with User(stack) as user:
        end = terminal(await user.run("please fail", agent="remote"))

    assert (end["type"], end["data"]["code"]) == ("agent_failed", "agui_error")
    assert end["data"]["message"] == "the AG-UI agent failed: the model fell over"


async def test_a_server_gone_silent_ends_the_run_as_unavailable(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
) -> None:
    async with User(stack) as user:
        events = await user.run("talk slow", agent="remote")

    assert any(f["type"] == "message_delta" for f in events)  # it had begun to answer
    end = terminal(events)
    assert (end["type"], end["data"]["code"]) == ("agent_failed", "agui_unavailable")
    assert f"sent nothing for {SILENCE_S} s" in end["data"]["message"]
    assert len(await agui_server.bodies()) == 1  # nothing is retried once the user saw it


async def test_stop_aborts_the_request_at_once(
    stack: Stack,
    agui_server: AguiServer,  # noqa: F811
) -> None:
    async with User(stack) as user:
        assert user.ws is not None
        accepted = await user.ask("talk slow", agent="remote")
        await user.until(lambda f: f["type"] == "message_delta")
        await send(user.ws, {"type": "cancel", "run_id": accepted["run_id"]})
        end = await user.until(lambda f: f["type"] in TERMINAL_TYPES)

    assert end["type"] == "agent_cancelled"
    assert await agui_server.wait_for_disconnect(0, timeout_s=1.5) < 1.5
