"""Chunks to events, without a socket: deltas, tool calls joined from fragments, the end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.agent.llm import (
    Finished,
    LlmProtocolError,
    LlmRejected,
    LlmUnauthorized,
    LlmUnavailable,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from services.agent.llm.assembly import ChunkAssembler
from shared.errors import ErrorCode


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice], **extra})


def fragment(index: int | None, **fields: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"function": {k: v for k, v in fields.items() if k != "id"}}
    if index is not None:
        call["index"] = index
    if "id" in fields:
        call["id"] = fields["id"]
    return {"tool_calls": [call]}


def feed(*data: str) -> list[Any]:
    assembler = ChunkAssembler()
    return [event for d in data for event in assembler.feed(d)]


USAGE = json.dumps({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})


def test_reasoning_and_content_become_deltas_in_order() -> None:
    events = feed(
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Think"}),
        chunk({"reasoning": "ing"}),  # vLLM and OpenRouter's name for it
        chunk({"content": "Hi"}),
        chunk(finish="stop"),
        USAGE,
        "[DONE]",
    )
    assert events == [
        ReasoningDelta("Think"),
        ReasoningDelta("ing"),
        TextDelta("Hi"),
        Finished("stop", Usage(input_tokens=9, output_tokens=4)),
    ]


def test_a_server_sending_both_reasoning_fields_is_heard_once() -> None:
    events = feed(chunk({"reasoning_content": "x", "reasoning": "x"}), chunk(finish="stop"))
    assert events == [ReasoningDelta("x")]


def test_parallel_calls_are_joined_by_index_even_when_their_fragments_interleave() -> None:
    assembler = ChunkAssembler()
    fragments = [
        chunk(fragment(0, id="call_a", name="weather", arguments="")),
        chunk(fragment(1, id="call_b", name="time", arguments='{"tz"')),
        chunk(fragment(0, arguments='{"city": ')),
        chunk(fragment(1, arguments=': "UTC"}')),
        chunk(fragment(0, arguments='"Paris"}')),
    ]
    assert [e for data in fragments for e in assembler.feed(data)] == []  # not whole yet
    assert assembler.feed(chunk(finish="tool_calls")) == [
        ToolCall("call_a", "weather", {"city": "Paris"}),
        ToolCall("call_b", "time", {"tz": "UTC"}),
    ]
    assert assembler.feed("[DONE]") == [Finished("tool_calls", None)]


def test_calls_without_an_index_are_told_apart_by_their_ids() -> None:
    events = feed(
        chunk(fragment(None, id="call_a", name="one", arguments='{"n": 1}')),
        chunk(fragment(None, id="call_b", name="two", arguments='{"n":')),
        chunk(fragment(None, arguments=" 2}")),
        chunk(finish="tool_calls"),
    )
    assert events == [ToolCall("call_a", "one", {"n": 1}), ToolCall("call_b", "two", {"n": 2})]


def test_a_call_without_arguments_gets_an_empty_object_and_one_without_id_gets_an_id() -> None:
    [call] = feed(chunk(fragment(0, name="now")), chunk(finish="tool_calls"))
    assert isinstance(call, ToolCall)
    assert (call.name, call.arguments) == ("now", {})
    assert call.id.startswith("call_")


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", "Paris"])
def test_arguments_that_are_not_a_json_object_are_a_protocol_error(arguments: str) -> None:
    with pytest.raises(LlmProtocolError) as caught:
        feed(chunk(fragment(0, id="c1", name="weather", arguments=arguments)), chunk(finish="stop"))
    assert caught.value.code is ErrorCode.LLM_PROTOCOL_ERROR
    assert "weather" in caught.value.message


def test_usage_sent_on_the_finish_chunk_is_taken_too() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert feed(chunk(finish="stop", usage=usage), "[DONE]") == [Finished("stop", Usage(3, 2))]


def test_an_empty_finish_reason_is_not_a_finish() -> None:
    events = feed(chunk({"content": "a"}, finish=""), chunk({"content": "b"}), chunk(finish="stop"))
    assert events == [TextDelta("a"), TextDelta("b")]


def test_a_stream_ending_after_its_finish_without_done_still_finishes() -> None:
    assembler = ChunkAssembler()
    assembler.feed(chunk({"content": "ok"}, finish="length"))
    assert assembler.end_of_stream() == [Finished("length", None)]
    assert assembler.done


@pytest.mark.parametrize("end", ["[DONE]", None])
def test_a_stream_ending_before_any_finish_reason_was_cut(end: str | None) -> None:
    assembler = ChunkAssembler()
    assembler.feed(chunk({"content": "half an ans"}))
    with pytest.raises(LlmProtocolError, match="cut"):
        assembler.feed(end) if end else assembler.end_of_stream()


@pytest.mark.parametrize("data", ['{"choices": [', '{"choices": "none"}', "not json"])
def test_a_chunk_that_is_not_a_chunk_is_a_protocol_error(data: str) -> None:
    with pytest.raises(LlmProtocolError, match="not a valid JSON chunk"):
        feed(data)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "overloaded", "code": 503}, LlmUnavailable),
        ({"message": "bad key", "code": 401}, LlmUnauthorized),
        ({"message": "too long", "code": 400}, LlmRejected),
        ({"message": "boom", "type": "server_error"}, LlmUnavailable),
        ("plain words", LlmUnavailable),
    ],
)
def test_an_error_object_mid_stream_raises_what_its_status_means(error: Any, kind: type) -> None:
    with pytest.raises(kind, match="mid-stream"):
        feed(chunk({"content": "a"}), json.dumps({"error": error}))


def test_nothing_is_taken_after_the_finish_or_after_done() -> None:
    assembler = ChunkAssembler()
    assembler.feed(chunk(finish="stop"))
    assert assembler.feed(chunk({"content": "late"})) == []
    assembler.feed("[DONE]")
    assert assembler.feed(chunk({"content": "later"})) == []
    assert assembler.end_of_stream() == []
