"""The AG-UI shapes agentwire reads and writes agree with the official ``ag-ui-protocol`` package:
its events, as its own encoder writes them, decode here; the input agentwire sends validates as
its ``RunAgentInput``; types agentwire does not act on decode as nothing, and broken events are
named."""

from __future__ import annotations

import ag_ui.core as official
import pytest
from ag_ui.encoder import EventEncoder

from services.agent.agents import agui_wire as wire


def through_official_encoder(event: official.BaseEvent) -> str:
    """The SSE data line the official encoder writes, without its framing."""
    return EventEncoder().encode(event).removeprefix("data: ").strip()


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            official.RunStartedEvent(thread_id="t", run_id="r", protocol_version="1.0"),
            wire.RunStarted(thread_id="t", run_id="r"),
        ),
        (
            official.TextMessageStartEvent(message_id="m", role="assistant"),
            wire.TextStart(message_id="m", role="assistant"),
        ),
        (
            official.TextMessageContentEvent(message_id="m", delta="Hi"),
            wire.TextContent(message_id="m", delta="Hi"),
        ),
        (
            official.ReasoningMessageContentEvent(message_id="r1", delta="hmm"),
            wire.ReasoningContent(message_id="r1", delta="hmm"),
        ),
        (
            official.ToolCallStartEvent(
                tool_call_id="c", tool_call_name="analyze", parent_message_id="m"
            ),
            wire.ToolCallStart(tool_call_id="c", tool_call_name="analyze", parent_message_id="m"),
        ),
        (
            official.ToolCallArgsEvent(tool_call_id="c", delta='{"a": 1}'),
            wire.ToolCallArgs(tool_call_id="c", delta='{"a": 1}'),
        ),
        (
            official.ToolCallResultEvent(message_id="x", tool_call_id="c", content="42"),
            wire.ToolCallResult(tool_call_id="c", content="42", message_id="x"),
        ),
        (
            official.RunErrorEvent(message="boom", code="overloaded"),
            wire.RunError(message="boom", code="overloaded"),
        ),
    ],
    ids=lambda value: type(value).__name__,
)
def test_the_official_encoders_events_decode_to_agentwires_shapes(
    event: official.BaseEvent, expected: wire.AguiEvent
) -> None:
    assert wire.decode_event(through_official_encoder(event)) == expected


def test_a_finished_runs_outcome_and_usage_are_read() -> None:
    event = official.RunFinishedEvent(
        thread_id="t",
        run_id="r",
        outcome=official.RunFinishedSuccessOutcome(pending_tool_call_ids=["c1"]),
        usage=[official.TokenUsage(input_tokens=10, output_tokens=3)],
    )

    decoded = wire.decode_event(through_official_encoder(event))

    assert decoded == wire.RunFinished(
        outcome=wire.Success(pending_tool_call_ids=["c1"]),
        usage=[wire.TokenUsage(input_tokens=10, output_tokens=3)],
    )


def test_the_input_agentwire_sends_is_a_valid_official_run_agent_input() -> None:
    call = wire.ToolCall(id="c1", function=wire.FunctionCall("analyze", '{"metric": "x"}'))
    sent = wire.RunAgentInput(
        thread_id="t",
        run_id="r.2",
        messages=[
            wire.UserMessage(id="u", content="why slow?"),
            wire.AssistantMessage(id="a", content="Let me look.", tool_calls=[call]),
            wire.ToolMessage(id="c1.result", tool_call_id="c1", content='{"worst": "db"}'),
        ],
        tools=[wire.Tool("analyze", "Analyzes", {"type": "object", "properties": {}})],
    )

    parsed = official.RunAgentInput.model_validate_json(wire.encode_input(sent))

    assert (parsed.thread_id, parsed.run_id, parsed.protocol_version) == ("t", "r.2", "1.0")
    user, assistant, tool = parsed.messages
    assert isinstance(user, official.UserMessage) and user.content == "why slow?"
    assert isinstance(assistant, official.AssistantMessage) and assistant.tool_calls
    assert assistant.tool_calls[0].function.arguments == '{"metric": "x"}'
    assert isinstance(tool, official.ToolMessage) and tool.tool_call_id == "c1"
    assert tool.error is None
    assert parsed.tools and parsed.tools[0].name == "analyze"


def test_an_event_type_agentwire_does_not_act_on_decodes_as_nothing() -> None:
    snapshot = official.StateSnapshotEvent(snapshot={"x": 1})

    assert wire.decode_event(through_official_encoder(snapshot)) is None
    assert wire.decode_event('{"type": "SOMETHING_FROM_2030", "x": 1}') is None


@pytest.mark.parametrize(
    "data",
    ['{"type": "TEXT_MESSAGE_CONTENT", "messageId": "m"}', "not json", '{"no": "type"}'],
    ids=["missing-field", "not-json", "no-type"],
)
def test_a_broken_event_is_a_wire_error(data: str) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_event(data)


def test_a_resuming_input_carries_resume_entries_the_official_sdk_reads() -> None:
    resume = [
        wire.ResumeEntry(interrupt_id="int-c1", status="resolved", payload={"approved": True})
    ]
    sent = wire.RunAgentInput(
        "t", "r.2", [wire.UserMessage(id="u", content="go")], [], resume=resume
    )

    parsed = official.RunAgentInput.model_validate_json(wire.encode_input(sent))

    assert parsed.resume is not None
    [entry] = parsed.resume
    assert (entry.interrupt_id, entry.status, entry.payload) == (
        "int-c1",
        "resolved",
        {"approved": True},
    )
