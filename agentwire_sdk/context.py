"""What an agent sees of its run, and everything it may do in it: :class:`RunContext`.

::

    async def my_agent(run: RunContext) -> None:
        run.message, run.history              # what the user said now, and before in the thread
        await run.think("a whole thought")    # or stream one:
        async with run.thinking() as thought:
            thought.write("piece by ")
            thought.write("piece")
        result = await run.call_tool("analyze_performance", {"metric": "latency_ms"})
        async with run.tool("my_own_tool", {"q": 1}) as call:   # a tool the agent runs itself
            call.progress(0.5, "half way")
            call.result = {"rows": 3}
        async with run.answer() as answer:   # the answer, streamed; or return a str instead
            answer.write("Here is what I found")

Every event goes to the user through the run host: ``agent_started`` before the agent runs, the
terminal event after it returns or raises (never by the agent). A stop cancels the agent's task
(``run.cancelled`` then says so); the budget is ``run.deadline``. A :class:`RunContext` is made
by the host (or by :mod:`agentwire_sdk.testing`) around a :class:`RunBackend`; agents never make
one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

from agentwire_sdk.errors import AgentError, ToolFailed
from shared.streaming import (
    DEFAULT_DELTA_INTERVAL_S,
    DEFAULT_PROGRESS_INTERVAL_S,
    MessageWriter,
    ProgressReporter,
)
from shared.wire.events import (
    AgentThinking,
    AgentThinkingData,
    AnyEvent,
    MessageKind,
    ToolCompleted,
    ToolCompletedData,
    ToolError,
    ToolExecuting,
    ToolExecutingData,
)

__all__ = [
    "RunBackend",
    "RunContext",
    "TextStream",
    "ToolCallRecord",
    "ToolSpan",
    "ToolSpec",
    "Turn",
    "Usage",
    "answer_message_id",
    "thought_message_id",
]


def answer_message_id(run_id: str) -> str:
    """The id of a run's answer message (one answer per run): ``agent_completed`` names it."""
    return f"{run_id}.answer"


def thought_message_id(run_id: str, step: int) -> str:
    """The id of a run's ``step``-th thought (from 1, as ``agent_thinking.step``)."""
    return f"{run_id}.t{step}"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the run may call: its parameters as a JSON Schema (what an LLM is offered)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """A tool call of an earlier turn: its result, or its error (``code: message``)."""

    name: str
    parameters: dict[str, Any]
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of the thread: the user's, or the agent's answer and its tool calls."""

    role: Literal["user", "assistant"]
    content: str
    tool_calls: tuple[ToolCallRecord, ...] = ()


@dataclass(slots=True)
class Usage:
    """Tokens a model spent on the run (put on its terminal event)."""

    input_tokens: int = 0
    output_tokens: int = 0


class RunBackend(Protocol):
    """What a run needs from its host: publishing its events, and the tool runner."""

    async def publish(self, event: AnyEvent) -> int:
        """Store the event for the user; its seq."""
        ...

    async def call_tool(
        self, name: str, parameters: dict[str, Any], tool_call_id: str, reason: str = ""
    ) -> Any:
        """Run a tool through the tool runner (which publishes the call's two events), first
        asking the user when the tool requires approval; its result, or :class:`ToolFailed`."""
        ...

    async def ask(self, question: str, reason: str = "") -> bool:
        """A yes/no question to the user (an approval); True only if they approved it."""
        ...

    async def tools(self) -> list[ToolSpec]:
        """The tools the tool runners offer."""
        ...


class RunContext:
    """One run, as its agent sees it."""

    def __init__(
        self,
        backend: RunBackend,
        *,
        run_id: str,
        thread_id: str,
        agent_id: str,
        message: str,
        history: Sequence[Turn] = (),
        deadline: float = float("inf"),
        delta_interval_s: float = DEFAULT_DELTA_INTERVAL_S,
        progress_interval_s: float = DEFAULT_PROGRESS_INTERVAL_S,
    ) -> None:
        self._backend = backend
        self.run_id = run_id
        self.thread_id = thread_id
        self.agent_id = agent_id
        self.message = message
        self.history: tuple[Turn, ...] = tuple(history)
        self.deadline = deadline  # time.monotonic() when the run's budget ends
        self.usage = Usage()
        self._delta_interval_s = delta_interval_s
        self._progress_interval_s = progress_interval_s
        self._thoughts = 0
        self._answers = 0  # answer streams begun (one may be turned into a thought)
        self._answer: str | None = None
        self._answer_id: str | None = None
        self._cancelled = False

    # Time and stopping

    @property
    def cancelled(self) -> bool:
        """The user stopped the run (the agent's task is being cancelled)."""
        return self._cancelled

    def time_left(self) -> float:
        """Seconds until the run's budget ends (it is then failed as ``run_timeout``)."""
        return self.deadline - time.monotonic()

    # Thinking and answering

    async def think(self, thought: str) -> None:
        """A whole thought, shown at once."""
        self._thoughts += 1
        data = AgentThinkingData(agent_id=self.agent_id, thought=thought, step=self._thoughts)
        await self._backend.publish(AgentThinking(**self._ids(), data=data))

    def thinking(self) -> TextStream:
        """A thought streamed piece by piece: ``async with run.thinking() as t: t.write(...)``."""
        self._thoughts += 1
        message_id = thought_message_id(self.run_id, self._thoughts)
        return TextStream(self, "thinking", message_id, step=self._thoughts)

    def answer(self) -> TextStream:
        """The answer, streamed: the run's result is what was written (return None then).

        A model may write text and then decide to call tools: :meth:`TextStream.as_thought`
        turns what was streamed into a thought, and a later ``answer()`` streams the answer."""
        if self._answer is not None:
            raise AgentError("a run has one answer; it was already given")
        self._answers += 1
        message_id = answer_message_id(self.run_id)
        if self._answers > 1:
            message_id = f"{message_id}{self._answers}"
        return TextStream(self, "answer", message_id)

    @property
    def answered(self) -> str | None:
        """The streamed answer, once its ``async with`` ended (None: not streamed)."""
        return self._answer

    @property
    def answer_id(self) -> str:
        """The message id ``agent_completed`` names: the streamed answer's."""
        return self._answer_id or answer_message_id(self.run_id)

    # Tools

    async def tools(self) -> list[ToolSpec]:
        """The tools :meth:`call_tool` can call."""
        return await self._backend.tools()

    async def call_tool(
        self, name: str, parameters: dict[str, Any] | None = None, *, reason: str = ""
    ) -> Any:
        """Call a tool of the tool runner; the user sees it run. A tool that requires approval
        waits for the user first (``reason``: why the agent wants it, shown to them); denied or
        expired, it does not run and :class:`ToolFailed` says so (``approval_denied``,
        ``approval_expired``). Raises :class:`ToolFailed`."""
        return await self._backend.call_tool(name, parameters or {}, uuid.uuid4().hex, reason)

    async def ask(self, question: str, *, reason: str = "") -> bool:
        """Ask the user a yes/no question and wait for the answer (as an approval: every tab
        sees it, it expires); True only if they approved."""
        return await self._backend.ask(question, reason)

    def tool(self, name: str, parameters: dict[str, Any] | None = None) -> ToolSpan:
        """Report a tool the agent runs itself: ``tool_executing`` on entry, ``tool_completed``
        on exit, always paired (an exception is the call's error, then goes on up)."""
        return ToolSpan(self, name, parameters or {})

    # For the host and the streams

    async def _publish(self, event: AnyEvent) -> int:
        return await self._backend.publish(event)

    def _ids(self) -> dict[str, str]:
        return {"run_id": self.run_id, "thread_id": self.thread_id}

    def _set_answer(self, text: str, message_id: str) -> None:
        self._answer, self._answer_id = text, message_id

    def _next_thought(self) -> int:
        self._thoughts += 1
        return self._thoughts

    def _cancel(self) -> None:
        self._cancelled = True


class TextStream:
    """A streamed thought or answer; ``write`` never blocks (the text is coalesced, 40 ms)."""

    def __init__(
        self, run: RunContext, kind: MessageKind, message_id: str, *, step: int = 0
    ) -> None:
        self._run = run
        self._step = step
        self.kind: MessageKind = kind
        self.message_id = message_id
        self._done = False
        self._writer = MessageWriter(
            run._publish,
            **run._ids(),
            agent_id=run.agent_id,
            kind=kind,
            message_id=message_id,
            interval_s=run._delta_interval_s,
        )

    @property
    def text(self) -> str:
        return self._writer.text

    def write(self, text: str) -> None:
        self._writer.write(text)

    async def __aenter__(self) -> TextStream:
        await self._writer.start()
        return self

    async def as_thought(self) -> str:
        """End this message as a thought (``agent_thinking`` completes it), also an answer
        stream that turned out not to be the answer; the text."""
        self._done = True
        text = await self._writer.finish()
        step = self._step or self._run._next_thought()
        data = AgentThinkingData(
            agent_id=self._run.agent_id, thought=text, step=step, message_id=self.message_id
        )
        await self._run._publish(AgentThinking(**self._run._ids(), data=data))
        return text

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            await self._writer.close()  # the run ends around it; its terminal event ends it
            return
        if self._done:
            return
        if self.kind == "answer":
            self._run._set_answer(await self._writer.finish(), self.message_id)
            return
        await self.as_thought()


@dataclass(eq=False)
class ToolSpan:
    """A tool the agent runs itself, as the user sees it. Set ``result`` before leaving."""

    _run: RunContext
    name: str
    parameters: dict[str, Any]
    result: Any = None
    tool_call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _started: float = 0.0
    _progress: ProgressReporter | None = None

    def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        """How far the tool got (0..1) and/or what it is doing; coalesced to one per 100 ms."""
        if self._progress is not None:
            self._progress.report(fraction, message)

    async def __aenter__(self) -> ToolSpan:
        run = self._run
        data = ToolExecutingData(
            tool_call_id=self.tool_call_id, tool_name=self.name, parameters=self.parameters
        )
        await run._publish(ToolExecuting(**run._ids(), data=data))
        self._started = time.monotonic()
        self._progress = ProgressReporter(
            run._publish,
            **run._ids(),
            tool_call_id=self.tool_call_id,
            tool_name=self.name,
            interval_s=run._progress_interval_s,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            await self._progress.close()
        run = self._run
        data = ToolCompletedData(
            tool_call_id=self.tool_call_id,
            tool_name=self.name,
            result=None if exc is not None else self.result,
            duration_ms=(time.monotonic() - self._started) * 1000,
            error=None if exc is None else _tool_error(exc),
        )
        await run._publish(ToolCompleted(**run._ids(), data=data))


def _tool_error(exc: BaseException) -> ToolError:
    """The error the user sees; an unexpected exception's text stays in the agent's log."""
    if isinstance(exc, ToolFailed | AgentError):
        return ToolError(code=exc.code, message=exc.message)
    if isinstance(exc, asyncio.CancelledError):
        return ToolError(code="cancelled", message="the run was stopped")
    return ToolError(code="tool_failed", message=f"the tool failed ({type(exc).__name__})")
