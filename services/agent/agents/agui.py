"""An agent that is any AG-UI 1.0 server, registered by URL (``AGUI_AGENTS``), under agentwire's
supervision: no SDK code on the server's side.

One agentwire run is one or more AG-UI runs. The first POSTs the thread as AG-UI messages (earlier
turns, then the user's message) and offers the tool runner's tools as AG-UI tools. The server's
events become the user's: reasoning (``REASONING_*``, the older ``THINKING_*``) a thought, text
the answer, a tool the server runs itself a ``tool_executing`` / ``tool_completed`` pair. A tool
call the server leaves unanswered at ``RUN_FINISHED`` is one of ours (a frontend tool, in AG-UI's
words): it runs through the tool runner, and its result (or its error, for the server to read)
goes back as AG-UI says, in a new run whose messages are the old ones plus the assistant's tool
calls and the tool messages answering them. A run that ends without asking for a tool is the
answer; text written before tool calls becomes a thought instead (as in the ``llm`` agent).
A run that ends with an ``interrupt`` (the server asking a person, such as approving one of its
own tools) is asked of the user as an approval (``run.ask``), and the next run resumes it with
the decision as AG-UI's approval payload (``resume: [{interruptId, payload: {approved}}]``).

Supervised like any agent: a stop cancels the run's task, which closes the HTTP stream at once
(the server sees the disconnect, AG-UI's abort); the run's budget bounds it; a refused, failing,
cut or silent server ends the run with a named code (``agui_*``, see ``agui_errors``).

agui_wire.py    the AG-UI shapes and their codec
agui_reader.py  one AG-UI run's events -> what the user sees, without I/O
agui_client.py  the HTTP side: POST, SSE, retries, timeouts
agui_errors.py  the named failures
"""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from agentwire_sdk import Agent, AgentError, RunContext, TextStream, ToolFailed, ToolSpan
from services.agent.agents import agui_wire as wire
from services.agent.agents.agui_client import AguiClient
from services.agent.agents.agui_reader import (
    CallAnswered,
    CallReady,
    CallStarted,
    RunReader,
    Said,
    Seen,
    Thought,
    ThoughtEnded,
)
from services.agent.llm.client import Timeouts
from services.agent.llm.retry import Retries

__all__ = ["AguiSettings", "agui_agent"]


@dataclass(frozen=True, slots=True)
class AguiSettings:
    name: str
    url: str
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0  # the longest silence between two events
    max_retries: int = 2
    max_steps: int = 10  # AG-UI runs per agentwire run (each answers the last one's tool calls)


def agui_agent(
    settings: AguiSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Agent:
    """The agent; its HTTP client is made on first use and shared by its runs (``transport``:
    the I/O seam, for tests)."""
    clients: list[AguiClient] = []

    def client() -> AguiClient:
        if not clients:
            timeouts = Timeouts(
                connect_s=settings.connect_timeout_s, read_s=settings.read_timeout_s
            )
            retries = Retries(max_retries=settings.max_retries)
            clients.append(
                AguiClient(
                    settings.url,
                    settings.api_key,
                    timeouts=timeouts,
                    retries=retries,
                    transport=transport,
                )
            )
        return clients[0]

    async def run(run: RunContext) -> None:
        spans: dict[str, ToolSpan] = {}  # the server's own tool calls, shown while they run
        try:
            await _converse(run, client(), settings.max_steps, spans)
        except BaseException as exc:  # every tool shown as running ends, however the run does
            for span in spans.values():
                await span.__aexit__(type(exc), exc, None)
            raise

    endpoint = AguiClient.describe(settings.url)
    return Agent(
        name=settings.name,
        description=f"An AG-UI agent at {endpoint}",
        run=run,
        headline=lambda run: f"Asking the AG-UI agent at {endpoint}",
    )


async def _converse(
    run: RunContext, client: AguiClient, max_steps: int, spans: dict[str, ToolSpan]
) -> None:
    """AG-UI runs until one ends without asking for tools or a person: its text is the answer."""
    specs = await run.tools()
    tools = [wire.Tool(s.name, s.description, s.parameters) for s in specs]
    offered = frozenset(s.name for s in specs)
    messages = [*_history(run), wire.UserMessage(id=f"{run.run_id}.user", content=run.message)]
    resume: list[wire.ResumeEntry] | msgspec.UnsetType = msgspec.UNSET
    for step in range(1, max_steps + 1):
        run_id = run.run_id if step == 1 else f"{run.run_id}.{step}"
        run_input = wire.RunAgentInput(run.thread_id, run_id, list(messages), tools, resume=resume)
        narrator = _Narrator(run, offered, spans)
        reader = await _read(client, run_input, narrator)
        run.usage.input_tokens += reader.input_tokens
        run.usage.output_tokens += reader.output_tokens
        messages += reader.messages
        if not reader.pending and not reader.interrupts:
            await narrator.answer()
            return
        await narrator.demote()
        messages += await asyncio.gather(*(narrator.call(call) for call in reader.pending))
        resume = [await _resolve(run, i) for i in reader.interrupts] or msgspec.UNSET
    raise AgentError(f"the AG-UI agent did not answer within {max_steps} runs")


async def _read(
    client: AguiClient, run_input: wire.RunAgentInput, narrator: _Narrator
) -> RunReader:
    """One AG-UI run, narrated as it streams; the reader, once ``RUN_FINISHED`` came."""
    reader = RunReader()
    try:
        async with aclosing(client.run(run_input)) as events:
            async for event in events:
                for seen in reader.feed(event):
                    await narrator.take(seen)
                if reader.finished:
                    break  # RUN_FINISHED is the last event: nothing after it is read
        reader.end_of_stream()
    except BaseException as exc:  # an error, or a stop (CancelledError): close what streams
        await narrator.close(exc)
        raise
    return reader


class _Narrator:
    """One AG-UI run, told to the user: its thoughts, its text, the tools the server runs."""

    def __init__(
        self, run: RunContext, offered: frozenset[str], spans: dict[str, ToolSpan]
    ) -> None:
        self._run = run
        self._offered = offered
        self._thought: TextStream | None = None
        self._text: TextStream | None = None
        # Calls of tools we did not offer (the server's), by id; kept from run to run, since a
        # call an approval held back gets its result in the next one.
        self._spans = spans

    async def take(self, seen: Seen) -> None:
        match seen:
            case Thought(delta=piece):
                if self._thought is None:
                    self._thought = await self._run.thinking().__aenter__()
                self._thought.write(piece)
            case ThoughtEnded():
                await self._end_thought()
            case Said(delta=piece):
                await self._end_thought()
                if self._text is None:
                    self._text = await self._run.answer().__aenter__()
                self._text.write(piece)
            case CallStarted():
                await self.demote()  # the text before a tool call was the agent thinking aloud
            case CallReady(tool_call_id=id, name=name, arguments=arguments) if (
                name not in self._offered
            ):
                self._spans[id] = await self._run.tool(name, arguments).__aenter__()
            case CallAnswered(tool_call_id=id, name=name, arguments=arguments, result=result):
                span = self._spans.pop(id, None)
                if span is None and not name:
                    return  # a call of an earlier run that was never shown
                if span is None:  # a tool we offered, which the server ran itself after all
                    span = await self._run.tool(name, arguments).__aenter__()
                span.result = result
                await span.__aexit__(None, None, None)

    async def call(self, call: CallReady) -> wire.ToolMessage:
        """A call the server left for us, run through the tool runner; the message answering
        it. A failed call is answered with its error, for the server to read and carry on."""
        try:
            span = self._spans.pop(call.tool_call_id, None)
            if span is not None:  # a tool agentwire never offered: the runner has no such tool
                failed = ToolFailed(call.name, "unknown_tool", f"no tool named {call.name!r}")
                await span.__aexit__(ToolFailed, failed, None)
                raise failed
            result = await self._run.call_tool(call.name, call.arguments)
        except ToolFailed as exc:
            error = {"error": {"code": exc.code, "message": exc.message}}
            return _tool_message(call, error, f"{exc.code}: {exc.message}")
        return _tool_message(call, result)

    async def answer(self) -> None:
        """The run ended without tool calls: its text is the answer. A call of the server's
        that never got a result ends failed."""
        for id, span in list(self._spans.items()):
            del self._spans[id]
            silent = ToolFailed(span.name, "tool_failed", "the AG-UI agent sent no result")
            await span.__aexit__(ToolFailed, silent, None)
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

    async def close(self, exc: BaseException) -> None:
        """Leaving early (an error, a stop): stop what still streams (the tools shown as
        running are ended by the run, which outlives this narrator)."""
        for stream in (self._thought, self._text):
            if stream is not None:
                await stream.__aexit__(type(exc), exc, None)
        self._thought = self._text = None

    async def _end_thought(self) -> None:
        if self._thought is not None:
            stream, self._thought = self._thought, None
            await stream.__aexit__(None, None, None)


async def _resolve(run: RunContext, interrupt: wire.Interrupt) -> wire.ResumeEntry:
    """An interrupt (the server asking a person, such as a tool approval) asked of the user as
    an approval: every tab sees it, it expires. The answer in AG-UI's approval payload."""
    question = interrupt.message or f"The AG-UI agent asks: {interrupt.reason or 'continue?'}"
    approved = await run.ask(question)
    payload = {"approved": approved}
    return wire.ResumeEntry(interrupt_id=interrupt.id, status="resolved", payload=payload)


def _tool_message(call: CallReady, content: Any, error: str | None = None) -> wire.ToolMessage:
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    return wire.ToolMessage(
        id=f"{call.tool_call_id}.result", tool_call_id=call.tool_call_id, content=text, error=error
    )


def _history(run: RunContext) -> list[wire.Message]:
    """The thread's earlier turns as AG-UI messages: an answer's tool calls as an assistant
    message calling them and the tool messages answering them, then the answer. Ids are the
    turn's place in the thread, the same in every run of it."""
    messages: list[wire.Message] = []
    for number, turn in enumerate(run.history):
        id = f"{run.thread_id}.{number}"
        if turn.role == "user":
            messages.append(wire.UserMessage(id=id, content=turn.content))
            continue
        calls = [
            wire.ToolCall(
                id=f"{id}.call{i}",
                function=wire.FunctionCall(c.name, json.dumps(c.parameters, default=str)),
            )
            for i, c in enumerate(turn.tool_calls)
        ]
        if calls:
            messages.append(wire.AssistantMessage(id=f"{id}.calls", tool_calls=calls))
        for call, record in zip(calls, turn.tool_calls, strict=True):
            content = record.result if record.error is None else {"error": record.error}
            text = content if isinstance(content, str) else json.dumps(content, default=str)
            messages.append(
                wire.ToolMessage(
                    id=f"{call.id}.result", tool_call_id=call.id, content=text, error=record.error
                )
            )
        messages.append(wire.AssistantMessage(id=id, content=turn.content))
    return messages
