"""A pydantic-ai agent plugged into agentwire through the SDK: one function maps its events to
what the user watches.

Why pydantic-ai, rather than LangGraph or the OpenAI Agents SDK: its shapes are the SDK's own (an
``Agent``, a ``RunContext`` carrying typed deps: here agentwire's run), so the glue is small; its
event stream (``run_stream_events``) hands over thinking, text and tool calls as they happen,
which is exactly what a user waits to see; it talks to any OpenAI-compatible endpoint (OpenAI,
Ollama, vLLM, llama.cpp, LiteLLM) like the built-in ``llm`` agent; and it ships fake models
(``FunctionModel``, ``TestModel``) that run offline, so the agent is tested with no network and no
key (``tests/unit/examples/test_pydantic_ai_agent.py``). LangGraph needs langchain-core and a
chat-model package for the same; the OpenAI Agents SDK leans on OpenAI's Responses API and
tracing.

What the user sees of a run:

- the model's reasoning, streamed as a thought (``run.thinking()``);
- its text, streamed as the answer (``run.answer()``); text it writes before calling tools turns
  into a thought, and the answer comes after;
- every tool of the tool runner (built-in and MCP) offered with its JSON Schema, each call made
  through ``run.call_tool``, so it shows as ``tool_executing`` / ``tool_completed``; a failed
  call goes back to the model (pydantic-ai's ``ToolFailed``) instead of ending the run;
- token usage on the terminal event; endpoint failures as named codes (``llm_unauthorized``,
  ``llm_unavailable``, ``llm_protocol_error``, ``llm_step_limit``).

Run it from the repository root, on the endpoint the built-in ``llm`` agent uses::

    AGENTS=examples.pydantic_ai_agent:assistant DEFAULT_AGENT=assistant \\
    LLM_BASE_URL=http://127.0.0.1:11434/v1 LLM_MODEL=llama3.2 ./dev up

Without ``LLM_BASE_URL`` it is still listed, and a run of it fails ``llm_not_configured``
saying what to set.
"""

from __future__ import annotations

import os
from typing import Any

import pydantic_ai
from pydantic_ai import (
    AgentRunResultEvent,
    FunctionToolCallEvent,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    Tool,
    UsageLimits,
)
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

from agentwire_sdk import AgentError, RunContext, TextStream, ToolFailed, ToolSpec, Turn, agent

__all__ = ["assistant", "brain"]

MAX_MODEL_REQUESTS = 10


def endpoint_model() -> Model:
    """The model at ``LLM_BASE_URL`` named ``LLM_MODEL`` (key: ``LLM_API_KEY``), the settings of
    the built-in ``llm`` agent; a model that says what to set when there is none."""
    # The agent service's settings object is the host's and does not reach agents: an agent
    # reads its own configuration, here the same variables so that one set-up serves both.
    base_url = os.environ.get("LLM_BASE_URL")
    if not base_url:
        return FunctionModel(stream_function=_not_configured)
    from pydantic_ai.models.openai import OpenAIChatModel  # the openai package: only when used
    from pydantic_ai.providers.openai import OpenAIProvider

    api_key = os.environ.get("LLM_API_KEY") or "none"  # Ollama & co. take any key
    provider = OpenAIProvider(base_url=base_url, api_key=api_key)
    return OpenAIChatModel(os.environ.get("LLM_MODEL", "default"), provider=provider)


async def _not_configured(messages: list[ModelMessage], info: AgentInfo) -> Any:
    raise AgentError("set LLM_BASE_URL and LLM_MODEL to run this agent", code="llm_not_configured")
    yield ""  # an async generator, as FunctionModel's stream_function must be


# The pydantic-ai agent. Tests swap its model: ``with brain.override(model=FunctionModel(...))``.
brain = pydantic_ai.Agent(
    endpoint_model(),
    deps_type=RunContext,
    instructions=(
        "You are a helpful assistant. Use the tools you are given when they help answer the "
        "user; say plainly when you cannot."
    ),
)


@agent(description="A pydantic-ai agent that can use the tool runner's tools")
async def assistant(run: RunContext) -> None:
    tools = FunctionToolset([_runner_tool(spec) for spec in await run.tools()])
    narrator = _Narrator(run)
    try:
        async with brain.run_stream_events(
            run.message,
            deps=run,
            message_history=_history(run.history),
            toolsets=[tools],
            usage_limits=UsageLimits(request_limit=MAX_MODEL_REQUESTS),
        ) as events:
            async for event in events:
                await narrator.take(event)
    except pydantic_ai.AgentRunError as failed:
        await narrator.close()
        raise _named(failed) from None
    except BaseException:  # a stop (CancelledError), an AgentError, a bug: as they are
        await narrator.close()
        raise


class _Narrator:
    """pydantic-ai's events, told to the user: reasoning as a thought, text as the answer."""

    def __init__(self, run: RunContext) -> None:
        self._run = run
        self._thought: TextStream | None = None
        self._text: TextStream | None = None

    async def take(self, event: Any) -> None:
        match event:
            case PartStartEvent(part=ThinkingPart(content=piece)):
                await self._think(piece)
            case PartDeltaEvent(delta=ThinkingPartDelta(content_delta=piece)) if piece:
                await self._think(piece)
            case PartEndEvent(part=ThinkingPart()):
                await self._end_thought()
            case PartStartEvent(part=TextPart(content=piece)):
                await self._say(piece)
            case PartDeltaEvent(delta=TextPartDelta(content_delta=piece)):
                await self._say(piece)
            case FunctionToolCallEvent():
                await self._end_thought()
                if self._text is not None:  # text before tool calls: the model thinking aloud
                    stream, self._text = self._text, None
                    await stream.as_thought()
            case AgentRunResultEvent(result=result):
                await self._answer(str(result.output))
                usage = result.usage
                self._run.usage.input_tokens += usage.input_tokens
                self._run.usage.output_tokens += usage.output_tokens

    async def close(self) -> None:
        """Leaving early (an error, a stop): stop what still streams."""
        for stream in (self._thought, self._text):
            if stream is not None:
                await stream.__aexit__(RuntimeError, None, None)
        self._thought = self._text = None

    async def _think(self, piece: str) -> None:
        if self._thought is None:
            self._thought = await self._run.thinking().__aenter__()
        self._thought.write(piece)

    async def _end_thought(self) -> None:
        if self._thought is not None:
            stream, self._thought = self._thought, None
            await stream.__aexit__(None, None, None)

    async def _say(self, piece: str) -> None:
        await self._end_thought()
        if self._text is None:
            self._text = await self._run.answer().__aenter__()
        self._text.write(piece)

    async def _answer(self, output: str) -> None:
        await self._end_thought()
        if self._text is None:  # a model that did not stream its text
            await self._say(output)
        assert self._text is not None
        stream, self._text = self._text, None
        await stream.__aexit__(None, None, None)


def _runner_tool(spec: ToolSpec) -> Tool[RunContext]:
    """A tool of the tool runner as a pydantic-ai tool: its own name, description and schema."""

    async def call(ctx: pydantic_ai.RunContext[RunContext], **arguments: Any) -> Any:
        try:
            return await ctx.deps.call_tool(spec.name, arguments)
        except ToolFailed as failed:  # the user saw it fail; the model reads why and carries on
            raise pydantic_ai.ToolFailed(f"{failed.code}: {failed.message}") from None

    return Tool.from_schema(call, spec.name, spec.description, spec.parameters, takes_ctx=True)


def _history(turns: tuple[Turn, ...]) -> list[ModelMessage]:
    """The thread's earlier turns, as pydantic-ai messages (earlier tool calls summed up)."""
    messages: list[ModelMessage] = []
    for turn in turns:
        if turn.role == "user":
            messages.append(ModelRequest(parts=[UserPromptPart(turn.content)]))
            continue
        used = "; ".join(f"{c.name} -> {c.error or c.result}" for c in turn.tool_calls)
        content = f"[tools used: {used}]\n{turn.content}" if used else turn.content
        messages.append(ModelResponse(parts=[TextPart(content)]))
    return messages


def _named(exc: pydantic_ai.AgentRunError) -> AgentError:
    """pydantic-ai's failures as the codes the built-in ``llm`` agent uses."""
    match exc:
        case pydantic_ai.ModelAuthenticationError():
            return AgentError("the model endpoint refused the API key", code="llm_unauthorized")
        case pydantic_ai.ModelAPIError():
            why = type(exc).__name__  # not its text: an endpoint's error body may echo anything
            return AgentError(f"the model endpoint is unavailable ({why})", code="llm_unavailable")
        case pydantic_ai.UsageLimitExceeded():
            limit = MAX_MODEL_REQUESTS
            return AgentError(f"no answer within {limit} model requests", code="llm_step_limit")
        case _:
            why = f"the model answered in a way it cannot use ({type(exc).__name__})"
            return AgentError(why, code="llm_protocol_error")
