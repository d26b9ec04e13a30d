"""One AG-UI run's events translated into what the user sees, without I/O: text, reasoning (1.0
and the older THINKING_* names), tool calls the server runs and those it leaves for agentwire,
the chunk shorthand, the run's messages for the next input, usage; and every way a server can
break the protocol or fail its run, named."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from services.agent.agents import agui_wire as wire
from services.agent.agents.agui_errors import AguiProtocolError, AguiRunFailed
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

STARTED = wire.RunStarted(thread_id="t", run_id="r")
FINISHED = wire.RunFinished()


def read(*events: wire.AguiEvent, reader: RunReader | None = None) -> list[Seen]:
    reader = reader or RunReader()
    seen = [s for event in (STARTED, *events) for s in reader.feed(event)]
    reader.end_of_stream()
    return seen


def text(id: str, *pieces: str) -> Iterable[wire.AguiEvent]:
    yield wire.TextStart(message_id=id, role="assistant")
    yield from (wire.TextContent(message_id=id, delta=p) for p in pieces)
    yield wire.TextEnd(message_id=id)


def call(id: str, name: str, args: str, parent: str | None = None) -> Iterable[wire.AguiEvent]:
    yield wire.ToolCallStart(tool_call_id=id, tool_call_name=name, parent_message_id=parent)
    yield wire.ToolCallArgs(tool_call_id=id, delta=args)
    yield wire.ToolCallEnd(tool_call_id=id)


def test_text_arrives_as_deltas_and_is_kept_as_the_runs_assistant_message() -> None:
    reader = RunReader()
    seen = read(*text("m1", "Hello", ", world"), FINISHED, reader=reader)

    assert seen == [Said("m1", "Hello"), Said("m1", ", world")]
    assert reader.finished and reader.pending == []
    assert reader.messages == [wire.AssistantMessage(id="m1", content="Hello, world")]


@pytest.mark.parametrize("names", ["1.0", "before-1.0"])
def test_reasoning_arrives_as_a_thought_under_either_name(names: str) -> None:
    if names == "1.0":
        events: list[wire.AguiEvent] = [
            wire.ReasoningStart(message_id="r1"),
            wire.ReasoningContent(message_id="r1", delta="Latency first."),
            wire.ReasoningEnd(message_id="r1"),
        ]
    else:
        events = [
            wire.ThinkingStart(),
            wire.ThinkingContent(delta="Latency first."),
            wire.ThinkingEnd(),
        ]
    thought, ended = read(*events, FINISHED)

    assert isinstance(thought, Thought) and thought.delta == "Latency first."
    assert isinstance(ended, ThoughtEnded)


def test_a_call_the_server_leaves_unanswered_is_pending_and_joins_its_text_message() -> None:
    reader = RunReader()
    seen = read(
        *text("m1", "Let me look."),
        *call("c1", "analyze_performance", '{"metric": "latency_ms"}', parent="m1"),
        FINISHED,
        reader=reader,
    )

    ready = CallReady("c1", "analyze_performance", {"metric": "latency_ms"})
    assert seen == [Said("m1", "Let me look."), CallStarted("c1", "analyze_performance"), ready]
    assert reader.pending == [ready]
    [message] = reader.messages
    assert isinstance(message, wire.AssistantMessage) and message.content == "Let me look."
    assert message.tool_calls == [
        wire.ToolCall(
            id="c1", function=wire.FunctionCall("analyze_performance", '{"metric": "latency_ms"}')
        )
    ]


def test_a_call_the_server_answers_itself_is_shown_with_its_result_and_not_pending() -> None:
    reader = RunReader()
    seen = read(
        *call("c1", "web_search", '{"q": "x"}'),
        wire.ToolCallResult(tool_call_id="c1", content='{"hits": 3}', message_id="res1"),
        *text("m2", "Found 3."),
        FINISHED,
        reader=reader,
    )

    assert CallAnswered("c1", "web_search", {"q": "x"}, {"hits": 3}) in seen
    assert reader.pending == []
    called, answered, said = reader.messages
    assert isinstance(called, wire.AssistantMessage) and called.id == "c1"  # no parent: its id
    assert answered == wire.ToolMessage(id="res1", tool_call_id="c1", content='{"hits": 3}')
    assert said == wire.AssistantMessage(id="m2", content="Found 3.")


def test_the_chunk_shorthand_opens_and_closes_messages_and_calls_by_itself() -> None:
    reader = RunReader()
    seen = read(
        wire.TextChunk(message_id="m1", delta="Hi "),
        wire.TextChunk(delta="there"),
        wire.ToolCallChunk(tool_call_id="c1", tool_call_name="analyze", delta='{"a"'),
        wire.ToolCallChunk(tool_call_id="c1", delta=": 1}"),
        FINISHED,
        reader=reader,
    )

    assert seen == [
        Said("m1", "Hi "),
        Said("m1", "there"),
        CallStarted("c1", "analyze"),
        CallReady("c1", "analyze", {"a": 1}),
    ]
    assert reader.pending == [CallReady("c1", "analyze", {"a": 1})]


def test_text_the_server_echoes_for_another_role_is_not_shown() -> None:
    start = wire.TextStart(message_id="u1", role="user")
    seen = read(start, wire.TextContent(message_id="u1", delta="me"), FINISHED)

    assert seen == []


def test_usage_of_every_model_is_summed() -> None:
    reader = RunReader()
    usage = [wire.TokenUsage(input_tokens=10, output_tokens=2), wire.TokenUsage(input_tokens=5)]
    read(wire.RunFinished(usage=usage), reader=reader)

    assert (reader.input_tokens, reader.output_tokens) == (15, 2)


def test_run_error_fails_the_run_with_the_servers_words_cut_short() -> None:
    with pytest.raises(AguiRunFailed) as failed:
        read(wire.RunError(message="rate limited  by\nupstream" + "!" * 500, code="busy"))

    assert failed.value.code == "agui_error"
    assert failed.value.message.startswith("the AG-UI agent failed: rate limited by upstream!")
    assert failed.value.message.endswith("(busy)") and len(failed.value.message) < 400


def test_an_interrupt_is_kept_for_the_next_input_and_its_call_is_not_pending() -> None:
    interrupt = wire.Interrupt(
        id="i1", reason="tool_call", message="Restart db?", tool_call_id="c1"
    )
    reader = RunReader()
    read(
        *call("c1", "restart_service", '{"service": "db"}'),
        *call("c2", "analyze_performance", "{}"),
        wire.RunFinished(outcome=wire.Interrupted(interrupts=[interrupt])),
        reader=reader,
    )

    assert reader.interrupts == [interrupt]
    assert [c.tool_call_id for c in reader.pending] == ["c2"]


def test_a_result_for_a_call_of_an_earlier_run_is_read_and_kept() -> None:
    reader = RunReader()
    seen = read(
        wire.ToolCallResult(tool_call_id="c1", content="restarted", message_id="t1"),
        FINISHED,
        reader=reader,
    )

    assert seen == [CallAnswered("c1", "", {}, "restarted")]
    assert reader.messages == [wire.ToolMessage(id="t1", tool_call_id="c1", content="restarted")]


def test_the_calls_run_finished_names_as_pending_are_the_pending_ones() -> None:
    reader = RunReader()
    named = wire.RunFinished(outcome=wire.Success(pending_tool_call_ids=["c2"]))
    read(*call("c1", "a", "{}"), *call("c2", "b", "{}"), named, reader=reader)

    assert [c.tool_call_id for c in reader.pending] == ["c2"]


def test_a_run_the_server_cancelled_fails_the_run() -> None:
    with pytest.raises(AguiRunFailed, match="cancelled its run"):
        read(wire.RunFinished(outcome=wire.Cancelled()))


BROKEN: list[tuple[str, list[Any]]] = [
    ("before-run-started", [wire.TextStart(message_id="m")]),
    ("text-never-started", [STARTED, wire.TextContent(message_id="m", delta="x")]),
    ("reasoning-never-started", [STARTED, wire.ReasoningEnd(message_id="r")]),
    ("args-for-no-call", [STARTED, wire.ToolCallArgs(tool_call_id="c", delta="{}")]),
    ("args-not-an-object", [STARTED, *call("c", "analyze", "[1, 2]")]),
    ("args-not-json", [STARTED, *call("c", "analyze", '{"a": ')]),
    (
        "finished-with-a-call-open",
        [STARTED, wire.ToolCallStart(tool_call_id="c", tool_call_name="x"), FINISHED],
    ),
    ("after-finished", [STARTED, FINISHED, *text("m", "late")]),
    (
        "result-for-an-open-call",
        [
            STARTED,
            wire.ToolCallStart(tool_call_id="c", tool_call_name="x"),
            wire.ToolCallResult(tool_call_id="c", content="1"),
        ],
    ),
]


@pytest.mark.parametrize("events", [events for _, events in BROKEN], ids=[n for n, _ in BROKEN])
def test_a_server_breaking_the_protocol_is_named(events: list[wire.AguiEvent]) -> None:
    reader = RunReader()
    with pytest.raises(AguiProtocolError) as broken:
        for event in events:
            reader.feed(event)
    assert broken.value.code == "agui_protocol_error"


def test_a_stream_that_ends_before_run_finished_is_named() -> None:
    reader = RunReader()
    for event in (STARTED, *text("m", "half an ans")):
        reader.feed(event)

    with pytest.raises(AguiProtocolError, match="before RUN_FINISHED"):
        reader.end_of_stream()
