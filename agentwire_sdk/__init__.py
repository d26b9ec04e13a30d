"""agentwire's agent SDK: write an agent as an async function; agentwire streams what it does.

::

    from agentwire_sdk import RunContext, agent

    @agent(description="Looks up the weather")
    async def weather(run: RunContext) -> str:
        async with run.thinking() as thought:
            thought.write(f"The user asks: {run.message}")
        forecast = await run.call_tool("forecast", {"city": "Oslo"})
        return f"Tomorrow in Oslo: {forecast['summary']}"

The public surface is this package's ``__all__``: :class:`Agent` and :func:`agent` (what an
agent is), :class:`RunContext` (what it may do in a run), :class:`Turn` /
:class:`ToolCallRecord` (the thread so far), :class:`ToolSpec` (a tool it may call),
:class:`AgentError` / :class:`ToolFailed` (how it fails), and :mod:`agentwire_sdk.testing`
(run one in a unit test). The run host's leases, database and subjects stay private to the
agent service.
"""

from agentwire_sdk.agent import Agent, agent, load
from agentwire_sdk.context import (
    RunContext,
    TextStream,
    ToolCallRecord,
    ToolSpan,
    ToolSpec,
    Turn,
    Usage,
)
from agentwire_sdk.errors import AgentError, ToolFailed

__all__ = [
    "Agent",
    "AgentError",
    "RunContext",
    "TextStream",
    "ToolCallRecord",
    "ToolFailed",
    "ToolSpan",
    "ToolSpec",
    "Turn",
    "Usage",
    "agent",
    "load",
]
