"""examples/hello_agent.py, as its user sees it: a streamed thought, one tool call, a streamed
answer naming what the tool found; a failing tool is said in the answer, not a failed run."""

from __future__ import annotations

from typing import Any

from agentwire_sdk import ToolFailed
from agentwire_sdk.testing import run_agent
from examples.hello_agent import hello


def collapsed(types: list[str]) -> list[str]:
    """Event types with each run of message_delta shown once (how many is the coalescer's)."""
    return [t for i, t in enumerate(types) if t != "message_delta" or types[i - 1] != t]


def analyze_performance(metric: str, period: str) -> dict[str, Any]:
    """The tool runner's analyze_performance, reduced to what hello reads."""
    return {"metric": metric, "period": period, "worst_service": "db"}


async def test_hello_thinks_calls_the_tool_and_streams_an_answer_naming_its_result() -> None:
    run = await run_agent(hello, "hi there", tools={"analyze_performance": analyze_performance})

    assert collapsed(run.types) == [
        "agent_started",
        *("message_started", "message_delta", "agent_thinking"),  # the thought, streamed
        *("tool_executing", "tool_completed"),
        *("message_started", "message_delta", "agent_completed"),  # the answer, streamed
    ]
    assert run.thoughts == ["Someone said 'hi there'. Let me see which service is slowest today."]
    executing = run.events[run.types.index("tool_executing")]
    assert executing.data.parameters == {"metric": "latency_ms", "period": "1d"}  # type: ignore[union-attr]
    assert run.answer == "Hello! You said 'hi there', and the slowest service today is db."
    assert run.text(run.events[-1].data.message_id) == run.answer  # type: ignore[union-attr]


async def test_hello_says_when_the_tool_failed_and_still_answers() -> None:
    def broken(**_: Any) -> None:
        raise ToolFailed("analyze_performance", "tool_timeout", "took too long")

    run = await run_agent(hello, "hi", tools={"analyze_performance": broken})

    completed = run.events[run.types.index("tool_completed")]
    assert completed.data.error is not None  # type: ignore[union-attr]
    assert run.types[-1] == "agent_completed"
    assert run.answer == "Hello! You said 'hi', and I could not check the services (tool_timeout)."
