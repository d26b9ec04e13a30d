"""One AG-UI run's events, read without I/O: decoded events in, what the user should see out.

::

    reader = RunReader()
    for event in events:                      # agui_wire.decode_event(...), Nones skipped
        for seen in reader.feed(event):
            match seen:
                case Thought(delta) | ThoughtEnded() | Said(delta): ...
                case CallStarted() | CallReady() | CallAnswered(): ...
    reader.end_of_stream()                    # raises unless RUN_FINISHED came
    reader.pending                            # the calls the server left for us to answer
    reader.interrupts                         # what it paused for (an approval), to resume
    reader.messages                           # the run as AG-UI messages, for the next input

The order is AG-UI's: ``RUN_STARTED`` first; text, reasoning and tool calls by their ids;
``RUN_FINISHED`` or ``RUN_ERROR`` last. The ``*_CHUNK`` convenience events open and close their
message implicitly (an event of another kind closes it). A tool call answered in the stream
(``TOOL_CALL_RESULT``) ran on the server; one left unanswered at ``RUN_FINISHED`` is a frontend
tool call: the client runs it and sends its result in a new run's messages, unless an interrupt
holds it back (a tool approval: the next run's ``resume`` answers it, and the server may then
send its result, for a call this reader never saw start). ``messages`` is what
an AG-UI client keeps of the run (assistant text with its tool calls, the server's tool results),
so that new run's history matches what the server said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from services.agent.agents import agui_wire as wire
from services.agent.agents.agui_errors import AguiProtocolError, AguiRunFailed

__all__ = [
    "CallAnswered",
    "CallReady",
    "CallStarted",
    "Phase",
    "RunReader",
    "Said",
    "Seen",
    "Thought",
    "ThoughtEnded",
]

_SAID_LIMIT = 300  # characters of a server's error message passed on to the user


@dataclass(frozen=True, slots=True)
class Thought:
    message_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class ThoughtEnded:
    message_id: str


@dataclass(frozen=True, slots=True)
class Said:
    """Assistant text: the answer, unless a tool call follows it."""

    message_id: str
    delta: str


@dataclass(frozen=True, slots=True)
class CallStarted:
    tool_call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CallReady:
    """A tool call's arguments are complete."""

    tool_call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """The server ran the call itself and streamed its result."""

    tool_call_id: str
    name: str
    arguments: dict[str, Any]
    result: Any


Seen = Thought | ThoughtEnded | Said | CallStarted | CallReady | CallAnswered


class Phase(Enum):
    """Where a run's stream is: each event is checked against it."""

    AWAITING_START = "awaiting_start"  # only RUN_STARTED (or RUN_ERROR) may come
    RUNNING = "running"
    FINISHED = "finished"  # RUN_FINISHED came: nothing more may


@dataclass
class _Draft:
    """An assistant message as it streams: its text and the tool calls it carries."""

    id: str
    text: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


@dataclass
class _Call:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    ready: CallReady | None = None
    answered: bool = False


class RunReader:
    def __init__(self) -> None:
        self.phase = Phase.AWAITING_START
        self.input_tokens = self.output_tokens = 0
        self._drafts: dict[str, _Draft] = {}
        self._texts: dict[str, bool] = {}  # text messages open: shown (the assistant's)?
        self._thoughts: set[str] = set()
        self._calls: dict[str, _Call] = {}
        self._order: list[wire.Message] = []  # drafts and tool results, as they came
        self._chunk: tuple[type, str] | None = None  # the open *_CHUNK message or call
        self._counter = 0
        self._named_pending: list[str] = []  # RUN_FINISHED's pendingToolCallIds, if it named any
        self.interrupts: list[wire.Interrupt] = []

    # Reading

    @property
    def finished(self) -> bool:
        return self.phase is Phase.FINISHED

    def feed(self, event: wire.AguiEvent) -> list[Seen]:
        match self.phase:
            case Phase.FINISHED:
                raise AguiProtocolError(f"{_kind(event)} after RUN_FINISHED")
            case Phase.AWAITING_START if isinstance(event, wire.RunStarted):
                self.phase = Phase.RUNNING
                return []
            case Phase.AWAITING_START if not isinstance(event, wire.RunError):
                raise AguiProtocolError(f"{_kind(event)} before RUN_STARTED")
        seen = self._close_chunk(event)
        return seen + self._take(event)

    def end_of_stream(self) -> None:
        if self.phase is not Phase.FINISHED:
            raise AguiProtocolError("the stream ended before RUN_FINISHED")

    @property
    def pending(self) -> list[CallReady]:
        """The tool calls left for the client, in the order they were made: those the server
        named, or else every call without a result that no interrupt holds back."""
        held = {i.tool_call_id for i in self.interrupts}
        calls = [c for c in self._calls.values() if c.ready and not c.answered]
        if self._named_pending:
            calls = [c for c in calls if c.id in self._named_pending]
        return [c.ready for c in calls if c.ready and c.id not in held]

    @property
    def messages(self) -> list[wire.Message]:
        return [self._final(m) for m in self._order]

    # Events

    def _take(self, event: wire.AguiEvent) -> list[Seen]:
        match event:
            case wire.TextStart(message_id=id, role=role):
                self._text_start(id, role)
            case wire.TextContent(message_id=id, delta=delta):
                return self._text(id, delta)
            case wire.TextEnd(message_id=id):
                self._text(id, "")
                del self._texts[id]
            case wire.TextChunk(message_id=id, delta=delta):
                return self._text_chunk(id, delta)
            case wire.ReasoningStart(message_id=id):
                self._thoughts.add(id)
            case wire.ReasoningContent(message_id=id, delta=delta):
                return self._thought(id, delta)
            case wire.ReasoningEnd(message_id=id):
                return self._thought_end(id)
            case wire.ReasoningChunk(message_id=id, delta=delta):
                id = self._chunk_id(wire.ReasoningChunk, id)
                self._thoughts.add(id)
                return self._thought(id, delta or "")
            case wire.ThinkingStart():
                self._thoughts.add("thinking")
            case wire.ThinkingContent(delta=delta):
                return self._thought("thinking", delta)
            case wire.ThinkingEnd():
                return self._thought_end("thinking")
            case wire.ToolCallStart(tool_call_id=id, tool_call_name=name, parent_message_id=p):
                return self._call_start(id, name, p)
            case wire.ToolCallArgs(tool_call_id=id, delta=delta):
                self._open_call(id).arguments.append(delta)
            case wire.ToolCallEnd(tool_call_id=id):
                return self._call_end(id)
            case wire.ToolCallChunk():
                return self._call_chunk(event)
            case wire.ToolCallResult(tool_call_id=id, content=content, message_id=message_id):
                return self._call_result(id, content, message_id)
            case wire.RunError(message=message, code=code):
                raise AguiRunFailed(_server_said(message, code))
            case wire.RunFinished():
                self._finish(event)
        return []

    def _text_start(self, id: str, role: str | None) -> None:
        """Text of another role than the assistant's (a server echoing a user or system
        message) is read but not shown."""
        shown = role in (None, "assistant")
        if shown:
            self._draft(id)
        self._texts[id] = shown

    def _text(self, id: str, delta: str) -> list[Seen]:
        shown = self._texts.get(id)
        if shown is None:
            raise AguiProtocolError("text for a message that was not started")
        if not shown or not delta:
            return []
        self._drafts[id].text.append(delta)
        return [Said(id, delta)]

    def _text_chunk(self, id: str | None, delta: str | None) -> list[Seen]:
        id = self._chunk_id(wire.TextChunk, id)
        if id not in self._texts:
            self._text_start(id, None)
        return self._text(id, delta or "")

    def _thought(self, id: str, delta: str) -> list[Seen]:
        if id not in self._thoughts:
            raise AguiProtocolError("reasoning content for a message that was not started")
        return [Thought(id, delta)] if delta else []

    def _thought_end(self, id: str) -> list[Seen]:
        if id not in self._thoughts:
            raise AguiProtocolError("the end of a reasoning message that was not started")
        self._thoughts.discard(id)
        return [ThoughtEnded(id)]

    def _call_start(self, id: str, name: str, parent: str | None) -> list[Seen]:
        if id in self._calls:
            raise AguiProtocolError(f"tool call {id!r} started twice")
        self._calls[id] = _Call(id, name)
        owner = parent if parent in self._drafts else None
        self._draft(owner or parent or id).calls.append(id)
        return [CallStarted(id, name)]

    def _call_end(self, id: str) -> list[Seen]:
        call = self._open_call(id)
        call.ready = CallReady(id, call.name, _arguments(call))
        return [call.ready]

    def _call_chunk(self, event: wire.ToolCallChunk) -> list[Seen]:
        id = self._chunk_id(wire.ToolCallChunk, event.tool_call_id)
        seen: list[Seen] = []
        if id not in self._calls:
            if not event.tool_call_name:
                raise AguiProtocolError("a TOOL_CALL_CHUNK starting a call without its name")
            seen = self._call_start(id, event.tool_call_name, event.parent_message_id)
        self._open_call(id).arguments.append(event.delta or "")
        return seen

    def _call_result(self, id: str, content: Any, message_id: str) -> list[Seen]:
        call = self._calls.get(id)
        if call is not None and call.ready is None:
            raise AguiProtocolError(f"a result for tool call {id!r}, which had not ended")
        text = _text_of(content)
        self._order.append(
            wire.ToolMessage(id=message_id or f"{id}.result", tool_call_id=id, content=text)
        )
        if call is None:  # a call of an earlier run, which an approval held back
            return [CallAnswered(id, "", {}, _parsed(text))]
        call.answered = True
        arguments = call.ready.arguments if call.ready else {}
        return [CallAnswered(id, call.name, arguments, _parsed(text))]

    def _finish(self, event: wire.RunFinished) -> None:
        open_calls = [c.id for c in self._calls.values() if c.ready is None]
        if open_calls:
            raise AguiProtocolError(f"RUN_FINISHED with tool call {open_calls[0]!r} still open")
        for usage in event.usage or ():
            self.input_tokens += usage.input_tokens or 0
            self.output_tokens += usage.output_tokens or 0
        match event.outcome:
            case wire.Success(pending_tool_call_ids=named) if named:
                self._named_pending = named
            case wire.Interrupted(interrupts=interrupts):
                self.interrupts = interrupts
            case wire.Cancelled():
                raise AguiRunFailed("the AG-UI agent cancelled its run")
        self.phase = Phase.FINISHED

    # Helpers

    def _close_chunk(self, event: wire.AguiEvent) -> list[Seen]:
        """A ``*_CHUNK`` message or call ends at the first event not continuing it."""
        if self._chunk is None:
            return []
        kind, id = self._chunk
        continuing = type(event) is kind and getattr(event, _CHUNK_ID[kind]) in (None, id)
        if continuing:
            return []
        self._chunk = None
        if kind is wire.TextChunk:
            self._texts.pop(id, None)
            return []
        if kind is wire.ReasoningChunk:
            return self._thought_end(id)
        return self._call_end(id)

    def _chunk_id(self, kind: type, id: str | None) -> str:
        if id is None:
            if self._chunk is not None and self._chunk[0] is kind:
                return self._chunk[1]
            if kind is wire.ToolCallChunk:
                raise AguiProtocolError("a TOOL_CALL_CHUNK starting a call without its id")
            self._counter += 1
            id = f"chunk{self._counter}"
        self._chunk = (kind, id)
        return id

    def _draft(self, id: str) -> _Draft:
        if id not in self._drafts:
            self._drafts[id] = _Draft(id)
            self._order.append(wire.AssistantMessage(id=id))
        return self._drafts[id]

    def _open_call(self, id: str) -> _Call:
        call = self._calls.get(id)
        if call is None or call.ready is not None:
            raise AguiProtocolError(f"arguments or an end for tool call {id!r}, which is not open")
        return call

    def _final(self, message: wire.Message) -> wire.Message:
        if not isinstance(message, wire.AssistantMessage):
            return message
        draft = self._drafts[message.id]
        calls = [
            wire.ToolCall(id=c, function=wire.FunctionCall(self._calls[c].name, self._sent(c)))
            for c in draft.calls
        ]
        text = "".join(draft.text)
        return wire.AssistantMessage(id=draft.id, content=text or None, tool_calls=calls or None)

    def _sent(self, call_id: str) -> str:
        """A call's arguments as the server sent them (a JSON object's text)."""
        return "".join(self._calls[call_id].arguments).strip() or "{}"


_CHUNK_ID = {
    wire.TextChunk: "message_id",
    wire.ReasoningChunk: "message_id",
    wire.ToolCallChunk: "tool_call_id",
}


def _arguments(call: _Call) -> dict[str, Any]:
    text = "".join(call.arguments).strip() or "{}"
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise AguiProtocolError(f"tool call {call.name!r}: arguments that are not a JSON object")
    return arguments


def _text_of(content: Any) -> str:
    """A tool result's content: a string, or (AG-UI 1.0) content parts, of which the text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return json.dumps(content)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _server_said(message: str, code: str | None) -> str:
    said = " ".join(message.split())[:_SAID_LIMIT] or "(no message)"
    return f"the AG-UI agent failed: {said}" + (f" ({code[:64]})" if code else "")


def _kind(event: wire.AguiEvent) -> str:
    return str(event.__struct_config__.tag)
