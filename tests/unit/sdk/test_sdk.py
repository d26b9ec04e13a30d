"""The agent SDK as a team uses it: agents run through agentwire_sdk.testing, no NATS, no DB."""

from __future__ import annotations

import asyncio

import pytest

from agentwire_sdk import AgentError, RunContext, ToolFailed, agent, load
from agentwire_sdk.testing import run_agent


@agent
async def greeter(run: RunContext) -> str:
    """Says hello back."""
    await run.think("Someone said something")
    return f"Hello! You said: {run.message}"


async def test_an_agent_that_returns_its_answer_completes_with_it() -> None:
    run = await run_agent(greeter, "hi")
    assert run.types == ["agent_started", "agent_thinking", "agent_completed"]
    assert run.answer == "Hello! You said: hi"
    assert run.events[-1].data.result == run.answer  # type: ignore[union-attr]
    assert greeter.name == "greeter" and greeter.description == "Says hello back."


async def test_streamed_thoughts_and_answers_join_to_their_whole_text() -> None:
    @agent(name="streamer", description="Streams")
    async def streamer(run: RunContext) -> None:
        async with run.thinking() as thought:
            for word in ["Looking ", "at ", "it"]:
                thought.write(word)
        async with run.answer() as answer:
            for i in range(100):
                answer.write(f"w{i} ")
                await asyncio.sleep(0)

    run = await run_agent(streamer, "go")
    thinking = run.events[run.types.index("agent_thinking")]
    assert thinking.data.thought == "Looking at it"  # type: ignore[union-attr]
    assert run.text(thinking.data.message_id) == "Looking at it"  # type: ignore[union-attr]
    completed = run.events[-1]
    assert run.answer == "".join(f"w{i} " for i in range(100))
    assert run.text(completed.data.message_id) == run.answer  # type: ignore[union-attr]
    assert run.types.count("message_started") == 2
    assert run.types.index("message_started") < run.types.index("message_delta")


async def test_tools_are_shown_and_a_failed_one_can_be_recovered_from() -> None:
    @agent(name="careful")
    async def careful(run: RunContext) -> str:
        try:
            await run.call_tool("flaky", {"n": 1})
        except ToolFailed as exc:
            await run.think(f"flaky failed: {exc.code}")
        total = await run.call_tool("add", {"a": 2, "b": 3})
        return f"sum {total}"

    def flaky(n: int) -> int:
        raise RuntimeError("down")

    async def add(a: int, b: int) -> int:
        return a + b

    run = await run_agent(careful, "go", tools={"flaky": flaky, "add": add})
    assert run.answer == "sum 5"
    assert run.thoughts == ["flaky failed: tool_failed"]
    kinds = [t for t in run.types if t.startswith("tool_")]
    assert kinds == ["tool_executing", "tool_completed"] * 2


async def test_a_tool_the_agent_runs_itself_is_always_paired_even_when_it_raises() -> None:
    @agent(name="own_tool")
    async def own_tool(run: RunContext) -> str:
        async with run.tool("lookup", {"q": "x"}) as call:
            call.progress(0.5, "half")
            await asyncio.sleep(0.01)  # the first report goes out at once
            call.result = {"rows": 1}
        async with run.tool("explode", {}):
            raise ValueError("secret detail")
        return "never"

    run = await run_agent(own_tool, "go")
    tools = [e for e in run.events if e.__struct_config__.tag.startswith("tool_")]  # type: ignore[misc]
    assert [e.__struct_config__.tag for e in tools] == [  # type: ignore[misc]
        "tool_executing",
        "tool_progress",
        "tool_completed",
        "tool_executing",
        "tool_completed",
    ]
    assert tools[2].data.result == {"rows": 1}  # type: ignore[union-attr]
    error = tools[-1].data.error  # type: ignore[union-attr]
    assert error.code == "tool_failed" and "secret" not in error.message
    assert run.types[-1] == "agent_failed"
    assert run.events[-1].data.code == "agent_error"  # type: ignore[union-attr]
    assert "secret" not in run.events[-1].data.message  # type: ignore[union-attr]


async def test_an_agent_error_ends_the_run_with_its_code_and_message() -> None:
    @agent(name="refuser")
    async def refuser(run: RunContext) -> str:
        raise AgentError("I only answer questions about cats", code="out_of_scope")

    run = await run_agent(refuser, "dogs?")
    assert run.types == ["agent_started", "agent_failed"]
    assert run.events[-1].data.code == "out_of_scope"  # type: ignore[union-attr]


async def test_an_agent_that_never_returns_ends_with_run_timeout() -> None:
    @agent(name="stuck")
    async def stuck(run: RunContext) -> str:
        await asyncio.sleep(3600)
        return "late"

    run = await run_agent(stuck, "go", timeout_s=0.2)
    assert run.types == ["agent_started", "agent_failed"]
    assert run.events[-1].data.code == "run_timeout"  # type: ignore[union-attr]


async def test_a_stopped_run_is_cancelled_and_the_agent_saw_it() -> None:
    seen: list[bool] = []

    @agent(name="patient")
    async def patient(run: RunContext) -> str:
        try:
            await asyncio.sleep(3600)
        finally:
            seen.append(run.cancelled)
        return "late"

    run = await run_agent(patient, "go", cancel_after_s=0.05)
    assert run.types == ["agent_started", "agent_cancelled"]
    assert seen == [True]


async def test_an_agent_is_loaded_by_module_and_attribute() -> None:
    assert load("tests.unit.sdk.test_sdk:greeter") is greeter
    with pytest.raises(ValueError, match=r"not an agentwire_sdk\.Agent"):
        load("tests.unit.sdk.test_sdk:test_an_agent_is_loaded_by_module_and_attribute")
    with pytest.raises(ValueError, match="module:attribute"):
        load("no_colon_here")
