"""examples/pydantic_ai_agent.py with pydantic-ai's own fake models (offline, no key), as the
user sees it: reasoning as a thought, tool calls through the tool runner, text as the answer;
a failed tool goes back to the model; Stop, a missing endpoint and a looping model end the run
once, with a named code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel
from pydantic_ai.models.test import TestModel

from agentwire_sdk import ToolFailed
from agentwire_sdk.testing import Recording, run_agent
from examples.pydantic_ai_agent import MAX_MODEL_REQUESTS, assistant, brain, endpoint_model
from shared.wire.events import ToolExecuting

Stream = AsyncIterator[Any]


def analyze_performance(metric: str = "latency_ms", period: str = "7d") -> dict[str, Any]:
    """Summary statistics of one metric per service."""
    if metric != "latency_ms":
        raise ToolFailed("analyze_performance", "invalid_parameters", f"no metric {metric!r}")
    return {"metric": metric, "period": period, "worst_service": "db"}


TOOLS = {"analyze_performance": analyze_performance}


def returned(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    """The tool results the model has been handed so far."""
    return [
        part
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, ToolReturnPart)
    ]


def collapsed(types: list[str]) -> list[str]:
    """Event types with each run of message_delta shown once (how many is the coalescer's)."""
    return [t for i, t in enumerate(types) if t != "message_delta" or types[i - 1] != t]


async def run_with(model: Any, message: str, **options: Any) -> Recording:
    with brain.override(model=model):
        return await run_agent(assistant, message, tools=TOOLS, **options)


def scripted(
    *responses: list[Any], seen: list[list[ToolReturnPart]] | None = None
) -> FunctionModel:
    """A model streaming ``responses`` in turn (text pieces, and dicts of thinking or tool-call
    deltas by part index); ``seen`` gets the tool results each request carried."""
    script = iter(responses)

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> Stream:
        if seen is not None:
            seen.append(returned(messages))
        for piece in next(script):
            yield piece

    return FunctionModel(stream_function=stream)


def call(index: int, call_id: str, **arguments: Any) -> dict[int, DeltaToolCall]:
    return {
        index: DeltaToolCall("analyze_performance", json.dumps(arguments), tool_call_id=call_id)
    }


async def test_reasoning_is_a_thought_the_call_goes_to_the_tool_runner_and_text_the_answer() -> (
    None
):
    seen: list[list[ToolReturnPart]] = []
    model = scripted(
        [
            {0: DeltaThinkingPart(content="Latency first; ")},
            {0: DeltaThinkingPart(content="the tool knows.")},
            call(1, "call_1", metric="latency_ms", period="1d"),
        ],
        ["The slowest ", "service is db."],
        seen=seen,
    )
    run = await run_with(model, "Why is the api slow?")

    assert collapsed(run.types) == [
        "agent_started",
        *("message_started", "message_delta", "agent_thinking"),  # the reasoning, streamed
        *("tool_executing", "tool_completed"),
        *("message_started", "message_delta", "agent_completed"),  # the answer, streamed
    ]
    assert run.thoughts == ["Latency first; the tool knows."]
    executing = run.events[run.types.index("tool_executing")]
    assert executing.data.parameters == {"metric": "latency_ms", "period": "1d"}  # type: ignore[union-attr]
    assert run.answer == "The slowest service is db."
    assert run.text(run.events[-1].data.message_id) == run.answer  # type: ignore[union-attr]
    [handed_back] = seen[1]  # the second request carried the tool's result, under the call's id
    assert handed_back.tool_call_id == "call_1"
    assert handed_back.content == {"metric": "latency_ms", "period": "1d", "worst_service": "db"}


async def test_a_failed_tool_goes_back_to_the_model_and_text_before_a_call_is_a_thought() -> None:
    seen: list[list[ToolReturnPart]] = []
    model = scripted(
        ["Let me check the ", "error rate.", call(0, "call_bad", metric="errors")],
        ["There is no such metric; ask me about latency."],
        seen=seen,
    )
    run = await run_with(model, "errors?")

    completed = run.events[run.types.index("tool_completed")]
    assert completed.data.error.code == "invalid_parameters"  # type: ignore[union-attr]
    assert run.thoughts == ["Let me check the error rate."]
    assert run.types[-1] == "agent_completed"
    assert run.answer == "There is no such metric; ask me about latency."
    [handed_back] = seen[1]
    assert handed_back.outcome == "failed"
    assert handed_back.content == "invalid_parameters: no metric 'errors'"


async def test_every_tool_of_the_runner_is_offered_to_the_model() -> None:
    # pydantic-ai's TestModel calls every tool it is offered, then answers with their results.
    run = await run_with(TestModel(), "anything")

    called = [event.data.tool_name for event in run.events if isinstance(event, ToolExecuting)]
    assert called == ["analyze_performance"]
    assert run.types[-1] == "agent_completed" and "worst_service" in (run.answer or "")


async def test_stop_mid_answer_cancels_the_run_and_nothing_streams_after_it() -> None:
    async def slow(messages: list[ModelMessage], info: AgentInfo) -> Stream:
        yield "one two "
        await asyncio.sleep(30)
        yield "never"

    run = await run_with(FunctionModel(stream_function=slow), "talk", cancel_after_s=0.3)

    assert run.types[-1] == "agent_cancelled"
    assert "never" not in run.text(f"{run.events[0].run_id}.answer")
    assert "agent_completed" not in run.types


async def test_without_an_endpoint_the_run_fails_saying_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    run = await run_with(endpoint_model(), "hi")

    end = run.events[-1]
    assert (end.data.code, end.data.message) == (  # type: ignore[union-attr]
        "llm_not_configured",
        "set LLM_BASE_URL and LLM_MODEL to run this agent",
    )


async def test_a_model_that_never_stops_calling_tools_ends_at_the_request_limit() -> None:
    model = scripted(*[[call(0, f"c{n}", metric="latency_ms")] for n in range(20)])
    run = await run_with(model, "loop")

    assert run.types.count("tool_executing") == MAX_MODEL_REQUESTS
    assert run.events[-1].data.code == "llm_step_limit"  # type: ignore[union-attr]
