"""Agents a test deployment registers (AGENTS=tests.integration.sample_agents:<name>,...)."""

from __future__ import annotations

import asyncio

from agentwire_sdk import AgentError, RunContext, ToolFailed, agent


@agent
async def echo(run: RunContext) -> str:
    """Repeats your message."""
    await run.think(f"Echoing {len(run.message)} characters")
    return f"echo: {run.message}"


@agent
async def tool_user(run: RunContext) -> None:
    """Calls a real tool, recovers from a bad call, and streams its answer."""
    try:
        await run.call_tool("analyze_performance", {"metric": "no_such_metric"})
    except ToolFailed as exc:
        await run.think(f"That failed ({exc.code}); trying latency instead")
    result = await run.call_tool("analyze_performance", {"metric": "latency_ms", "period": "1d"})
    async with run.answer() as answer:
        for word in f"The worst service is {result['worst_service']}.".split(" "):
            answer.write(word + " ")


@agent
async def raiser(run: RunContext) -> str:
    """Crashes."""
    raise RuntimeError("a bug with a secret in it: hunter2")


@agent
async def refuser(run: RunContext) -> str:
    """Refuses, with its own code."""
    raise AgentError("I only talk about cats", code="out_of_scope")


@agent
async def forever(run: RunContext) -> str:
    """Never returns."""
    await asyncio.sleep(3600)
    return "late"


@agent
async def stubborn(run: RunContext) -> str:
    """Ignores being stopped."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue


@agent
async def gated_user(run: RunContext) -> str:
    """Asks to estimate savings (a tool this deployment gates) and says what came of it."""
    try:
        result = await run.call_tool(
            "estimate_savings", {}, reason="To put a monthly figure on right-sizing"
        )
    except ToolFailed as exc:
        return f"not run: {exc.code}"
    return f"saved {result['total']['monthly_savings']}"


@agent
async def asker(run: RunContext) -> str:
    """Asks a yes/no question."""
    yes = await run.ask("Shall I go on?", reason="It takes a while")
    return "going on" if yes else "stopping here"


@agent
async def applier(run: RunContext) -> str:
    """Enables the api's cache (a change a person approves), then measures again."""
    before = await run.call_tool("analyze_performance", {"metric": "latency_ms", "service": "api"})
    try:
        await run.call_tool(
            "apply_recommendation",
            {"service": "api", "change": "enable_cache"},
            reason="A cache takes load off the api",
        )
    except ToolFailed as exc:
        return f"did not apply: {exc.code}"
    after = await run.call_tool("analyze_performance", {"metric": "latency_ms", "service": "api"})
    return f"p99 {before['services']['api']['p99']} -> {after['services']['api']['p99']}"
