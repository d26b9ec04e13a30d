"""Chunks in, events out: the stream's rules, kept apart from HTTP so they test without a socket.

A tool call arrives in fragments addressed by ``index``: the first names its ``id`` and
``function.name``, later ones append pieces of ``function.arguments``, and parallel calls use
further indexes. Calls are handed over whole, in index order, when the choice's
``finish_reason`` arrives: no server promises that one call's fragments end before the next
call's begin, so only ``finish_reason`` says that nothing more will be appended.

``Finished`` waits for ``[DONE]`` (or the end of the body) because usage comes in a chunk of its
own after the finish. A stream that ends before any ``finish_reason`` was cut; one that carries
an error object failed on the server: both raise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import msgspec

from services.agent.llm.errors import LlmError, LlmProtocolError, error_for_status
from services.agent.llm.events import (
    ChatEvent,
    Finished,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from services.agent.llm.wire import Chunk, Delta, ToolCallFragment, WireError, decode_chunk

__all__ = ["ChunkAssembler"]


@dataclass
class _PartialCall:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = field(default_factory=list)


class ChunkAssembler:
    """Feed it each SSE ``data`` payload; it returns the events they complete."""

    def __init__(self) -> None:
        self._calls: dict[int, _PartialCall] = {}
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self.done = False  # [DONE] was read, or the stream was ended after its finish

    def feed(self, data: str) -> list[ChatEvent]:
        if self.done:
            return []
        if data.strip() == "[DONE]":
            return self.end_of_stream()
        try:
            chunk = decode_chunk(data)
        except msgspec.DecodeError as error:
            raise LlmProtocolError(
                f"a chunk is not a valid JSON chunk ({error}): {data[:120]!r}"
            ) from None
        return self._chunk(chunk)

    def end_of_stream(self) -> list[ChatEvent]:
        """The stream is over (``[DONE]`` or the end of the body): the last event, or an error."""
        if self.done:
            return []
        if self._finish_reason is None:
            raise LlmProtocolError("the stream ended before its finish_reason: it was cut")
        self.done = True
        return [Finished(self._finish_reason, self._usage)]

    def _chunk(self, chunk: Chunk) -> list[ChatEvent]:
        if chunk.error is not None:
            raise _stream_error(chunk.error)
        if chunk.usage is not None:
            self._usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        events: list[ChatEvent] = []
        for choice in chunk.choices:
            if choice.index != 0 or self._finish_reason is not None:
                continue  # we ask for one choice; nothing belongs to it after its finish
            events.extend(self._delta(choice.delta))
            if choice.finish_reason:  # some servers send "" until the end, not null
                self._finish_reason = choice.finish_reason
                events.extend(self._complete_calls())
        return events

    def _delta(self, delta: Delta) -> list[ChatEvent]:
        events: list[ChatEvent] = []
        if reasoning := delta.reasoning_content or delta.reasoning:
            events.append(ReasoningDelta(reasoning))
        if delta.content:
            events.append(TextDelta(delta.content))
        for fragment in delta.tool_calls or ():
            self._fragment(fragment)
        return events

    def _fragment(self, fragment: ToolCallFragment) -> None:
        call = self._calls.setdefault(self._index_of(fragment), _PartialCall())
        if fragment.id and call.id is None:
            call.id = fragment.id
        if fragment.function is not None:
            if fragment.function.name and call.name is None:
                call.name = fragment.function.name
            if fragment.function.arguments:
                call.arguments.append(fragment.function.arguments)

    def _index_of(self, fragment: ToolCallFragment) -> int:
        if fragment.index is not None:
            return fragment.index
        # No index: a fragment with a new id starts a call, any other continues the last one.
        for index, call in self._calls.items():
            if fragment.id and call.id == fragment.id:
                return index
        last = max(self._calls, default=-1)
        return last + 1 if fragment.id or last < 0 else last

    def _complete_calls(self) -> list[ChatEvent]:
        calls, self._calls = self._calls, {}
        return [_whole(index, calls[index]) for index in sorted(calls)]


def _whole(index: int, call: _PartialCall) -> ToolCall:
    if not call.name:
        raise LlmProtocolError(f"tool call {index} has no function name")
    text = "".join(call.arguments).strip() or "{}"  # a call without parameters may send none
    try:
        arguments = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise LlmProtocolError(
            f"the arguments of tool call {call.name!r} are not valid JSON: {text[:120]!r}"
        ) from None
    if not isinstance(arguments, dict):
        raise LlmProtocolError(f"the arguments of tool call {call.name!r} are not a JSON object")
    # A server that sends no id (some local ones) cannot check one: any unique id will do.
    return ToolCall(call.id or f"call_{uuid.uuid4().hex[:24]}", call.name, arguments)


def _stream_error(error: WireError | str) -> LlmError:
    message, code = (error, None) if isinstance(error, str) else (error.message, error.code)
    status = code if isinstance(code, int) else 500  # no status: the server failed mid-stream
    return error_for_status(status, f"the endpoint failed mid-stream: {message[:300]}")
