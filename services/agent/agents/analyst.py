"""The built-in infrastructure analyst, written with the agent SDK like any team's agent.

It follows a :class:`~services.agent.planner.Planner`: each Think is typed out as a streamed
thought, each CallTool goes to the tool runner, and Finish is typed out as the streamed answer
(:class:`~services.agent.messages.Typing`: word-sized pieces at ``STREAM_TOKENS_PER_S``). A tool
that fails ends the run with the tool's code, as it always has; a plan that never finishes is
stopped after ``max_steps``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any

from agentwire_sdk import Agent, AgentError, RunContext, ToolFailed, Turn
from services.agent.messages import Typing
from services.agent.planner import CallTool, Finish, Planner, Step, Think, ToolObservation

__all__ = ["DEFAULT_MAX_STEPS", "DESCRIPTION", "analyst"]

# A planner that never says Finish (an LLM going in circles) must not run for ever.
DEFAULT_MAX_STEPS = 50
DESCRIPTION = "Analyses the latency, errors and cost of the sample services"


def analyst(
    planner: Planner,
    *,
    name: str = "infra_analyst",
    typing: Typing | None = None,
    think_delay_s: float = 0.0,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> Agent:
    """The analyst as an :class:`Agent` named ``name``."""
    pace = typing or Typing(tokens_per_s=0)

    def headline(run: RunContext) -> str:
        return planner.start(run.message, _asked(run.history)).headline

    async def run(run: RunContext) -> None:
        plan = planner.start(run.message, _asked(run.history))
        observation: ToolObservation | None = None
        thoughts = 0
        for _ in range(max_steps):
            step = await _resolved(plan.next_step(observation))
            observation = None
            match step:
                case Think(thought=thought):
                    # A short pause between thoughts: without it a deterministic plan lands all
                    # at once, and the stream does not look like someone working.
                    if thoughts and think_delay_s:
                        await asyncio.sleep(think_delay_s)
                    thoughts += 1
                    async with run.thinking() as stream:
                        await pace.type_out(stream, thought)
                case CallTool(tool_name=tool, parameters=parameters):
                    result = await _call(run, step)
                    observation = ToolObservation(tool, parameters, result)
                case Finish(answer=answer):
                    async with run.answer() as stream:
                        await pace.type_out(stream, answer)
                    return
                case _:
                    raise TypeError(f"the planner returned {step!r}, not a step")
        raise AgentError(f"the plan did not finish within {max_steps} steps")

    return Agent(name=name, description=DESCRIPTION, run=run, headline=headline)


async def _call(run: RunContext, step: CallTool) -> Any:
    """The tool's result; a failure ends the run, unless the plan is ready for it."""
    try:
        return await run.call_tool(step.tool_name, step.parameters, reason=step.reason)
    except ToolFailed as exc:
        if not step.tolerate_failure:
            raise
        return {"error": exc.code, "message": exc.message}


def _asked(history: tuple[Turn, ...]) -> list[str]:
    """What the user asked earlier in the thread: the planner reads only that."""
    return [turn.content for turn in history if turn.role == "user"]


async def _resolved(step: Step | Awaitable[Step]) -> Step:
    # The Planner interface is synchronous; a plan may return an awaitable step instead.
    if inspect.isawaitable(step):
        return await step
    return step
