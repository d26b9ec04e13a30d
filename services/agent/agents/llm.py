"""An agent on any OpenAI-compatible Chat Completions endpoint, written with the agent SDK.

Each step streams one completion: reasoning (``reasoning_content`` / ``reasoning``) as a thought,
text as the answer. Tool calls (assembled by the client from their fragments) run through the
tool runner, in parallel, and their results — or their errors, so the model can recover — go
back to the model as tool messages for the next step. A step that ends without tool calls is the
answer; text a model writes before calling tools becomes a thought instead. Token usage is
summed over the steps and put on the run's terminal event.

Failures are the client's named ones (``llm_unauthorized``, ``llm_unavailable`` after bounded
retries, ``llm_protocol_error``, ``llm_rejected``): raised as they are, they end the run with that
code. A stop cancels the run's task, which closes the HTTP stream at once.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from agentwire_sdk import Agent, AgentError, RunContext, TextStream, ToolFailed, Turn
from services.agent.llm import (
    ChatClient,
    Finished,
    Message,
    ReasoningDelta,
    Retries,
    TextDelta,
    Timeouts,
    ToolCall,
    assistant_message,
    function_tool,
    tool_message,
)
from services.agent.observe import record_usage
from shared import tracing

__all__ = ["DEFAULT_SYSTEM_PROMPT", "LlmSettings", "llm_agent"]

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant. Use the tools you are given when they help answer the user; "
    "say plainly when you cannot."
)


@dataclass(frozen=True, slots=True)
class LlmSettings:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0
    max_retries: int = 3
    max_steps: int = 10
    system_prompt: str = DEFAULT_SYSTEM_PROMPT


def llm_agent(
    settings: LlmSettings, *, name: str = "llm", client: ChatClient | None = None
) -> Agent:
    """The agent named ``name``; its HTTP client (``client``, or one made on first use) is
    shared by its runs."""
    clients: list[ChatClient] = [client] if client is not None else []

    def client() -> ChatClient:
        if not clients:
            timeouts = Timeouts(
                connect_s=settings.connect_timeout_s, read_s=settings.read_timeout_s
            )
            retries = Retries(max_retries=settings.max_retries)
            clients.append(
                ChatClient(
                    settings.base_url,
                    settings.api_key,
                    settings.model,
                    timeouts=timeouts,
                    retries=retries,
                )
            )
        return clients[0]

    async def run(run: RunContext) -> None:
        tools = [function_tool(t.name, t.description, t.parameters) for t in await run.tools()]
        messages: list[Message] = [
            {"role": "system", "content": settings.system_prompt},
            *_history(run.history),
            {"role": "user", "content": run.message},
        ]
        for _ in range(settings.max_steps):
            step = _Step(run)
            # One GenAI "chat" span per completion (nothing when tracing is off): the model, the
            # tokens it spent, under the run's invoke_agent span.
            with tracing.span(f"chat {settings.model}", kind="client", attributes=_chat(settings)):
                try:
                    async with aclosing(client().stream(messages, tools or None)) as events:
                        async for event in events:
                            await step.take(event)
                except BaseException:
                    await step.close()
                    raise
                if step.usage is not None:
                    record_usage(
                        model=settings.model,
                        input_tokens=step.usage.input_tokens,
                        output_tokens=step.usage.output_tokens,
                    )
            if not step.calls:
                await step.answer()
                return
            await step.demote()  # the text before the calls was the model thinking aloud
            messages.append(assistant_message(step.text, step.calls))
            results = await asyncio.gather(*(_call(run, call) for call in step.calls))
            messages += [
                tool_message(call.id, result)
                for call, result in zip(step.calls, results, strict=True)
            ]
        raise AgentError(f"the model did not answer within {settings.max_steps} steps")

    return Agent(
        name=name,
        description=f"A language model ({settings.model}) that can use the tools",
        run=run,
        headline=lambda run: f"Asking {settings.model}",
    )


class _Step:
    """One completion, as it streams: its thought, its text, its tool calls."""

    def __init__(self, run: RunContext) -> None:
        self._run = run
        self._thought: TextStream | None = None
        self._text: TextStream | None = None
        self.calls: list[ToolCall] = []
        self.text = ""
        self.usage: Any = None  # the completion's token usage, when the server sent it

    async def take(self, event: Any) -> None:
        match event:
            case ReasoningDelta(text=piece):
                if self._thought is None:
                    self._thought = await self._run.thinking().__aenter__()
                self._thought.write(piece)
            case TextDelta(text=piece):
                await self._end_thought()
                if self._text is None:
                    self._text = await self._run.answer().__aenter__()
                self._text.write(piece)
                self.text += piece
            case ToolCall():
                self.calls.append(event)
            case Finished(usage=usage) if usage is not None:
                self.usage = usage
                self._run.usage.input_tokens += usage.input_tokens
                self._run.usage.output_tokens += usage.output_tokens

    async def answer(self) -> None:
        """The step ended without tool calls: its text is the answer."""
        await self._end_thought()
        if self._text is None:
            self._text = await self._run.answer().__aenter__()
        stream, self._text = self._text, None
        await stream.__aexit__(None, None, None)

    async def demote(self) -> None:
        await self._end_thought()
        if self._text is not None:
            stream, self._text = self._text, None
            await stream.as_thought()

    async def close(self) -> None:
        """Leaving early (an error, a stop): stop what still streams."""
        for stream in (self._thought, self._text):
            if stream is not None:
                await stream.__aexit__(RuntimeError, None, None)
        self._thought = self._text = None

    async def _end_thought(self) -> None:
        if self._thought is not None:
            stream, self._thought = self._thought, None
            await stream.__aexit__(None, None, None)


def _chat(settings: LlmSettings) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": settings.model,
        "server.address": settings.base_url.split("://", 1)[-1].split("/", 1)[0].split("@")[-1],
    }


async def _call(run: RunContext, call: ToolCall) -> Any:
    """The tool's result, or its error for the model to read (a failed tool ends nothing)."""
    try:
        return await run.call_tool(call.name, call.arguments)
    except ToolFailed as exc:
        return {"error": {"code": exc.code, "message": exc.message}}


def _history(turns: tuple[Turn, ...]) -> list[Message]:
    """Earlier turns as chat messages; earlier tool calls are summarised into the answer's
    context (their ids are gone, and a model needs only what they returned)."""
    messages: list[Message] = []
    for turn in turns:
        if turn.role == "user":
            messages.append({"role": "user", "content": turn.content})
            continue
        content = turn.content
        if turn.tool_calls:
            used = "; ".join(
                f"{c.name}({c.parameters}) -> {c.error or c.result}" for c in turn.tool_calls
            )
            content = f"[tools used: {used}]\n{content}"
        messages.append({"role": "assistant", "content": content})
    return messages
