"""An agentwire run as AG-UI events, without I/O: the mapping, the positions, resumption.

Every event made is checked against the official ``ag-ui-protocol`` models, so the shapes are
AG-UI 1.0's and not only ours.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from ag_ui.core import Event as OfficialEvent
from pydantic import TypeAdapter

from services.ws_gateway import agui_wire as w
from services.ws_gateway.agui_projection import (
    Cursor,
    Delivery,
    Frame,
    Phase,
    Projection,
    interrupt_id,
    parse_interrupt_id,
)
from shared.wire import events as e

RUN, THREAD = "run-1", "thread-1"
OFFICIAL = TypeAdapter(OfficialEvent)


def ev(kind: type[Any], data: Any) -> Any:
    data.timestamp = 1_700_000_000.0  # fixed: two projections of a run compare equal
    return kind(run_id=RUN, thread_id=THREAD, data=data)


def renumbered(events: list[tuple[int, Any]], start: int = 10) -> list[tuple[int, Any]]:
    return [(start + k, event) for k, (_, event) in enumerate(events)]


def a_run() -> list[tuple[int, Any]]:
    """A streamed thought, a tool with progress, a whole thought, a streamed answer."""
    return [
        (10, ev(e.AgentStarted, e.AgentStartedData(agent_id="a", message="hi"))),
        (
            11,
            ev(
                e.MessageStarted,
                e.MessageStartedData(message_id="t1", kind="thinking", agent_id="a"),
            ),
        ),
        (12, ev(e.MessageDelta, e.MessageDeltaData(message_id="t1", delta="Look"))),
        (13, ev(e.MessageDelta, e.MessageDeltaData(message_id="t1", delta="ing."))),
        (
            14,
            ev(
                e.AgentThinking,
                e.AgentThinkingData(agent_id="a", thought="Looking.", message_id="t1"),
            ),
        ),
        (
            15,
            ev(
                e.ToolExecuting,
                e.ToolExecutingData(tool_call_id="c1", tool_name="scan", parameters={"s": "api"}),
            ),
        ),
        (
            16,
            ev(
                e.ToolProgress,
                e.ToolProgressData(tool_call_id="c1", tool_name="scan", progress=0.5),
            ),
        ),
        (
            17,
            ev(
                e.ToolCompleted,
                e.ToolCompletedData(tool_call_id="c1", tool_name="scan", result={"p99": 3}),
            ),
        ),
        (18, ev(e.AgentThinking, e.AgentThinkingData(agent_id="a", thought="Whole thought."))),
        (
            19,
            ev(
                e.MessageStarted, e.MessageStartedData(message_id="m1", kind="answer", agent_id="a")
            ),
        ),
        (20, ev(e.MessageDelta, e.MessageDeltaData(message_id="m1", delta="It is "))),
        (21, ev(e.MessageDelta, e.MessageDeltaData(message_id="m1", delta="slow."))),
        (
            22,
            ev(
                e.AgentCompleted,
                e.AgentCompletedData(agent_id="a", result="It is slow.", message_id="m1"),
            ),
        ),
    ]


def project(events: list[tuple[int, Any]], cursor: Cursor | None = None) -> list[Frame]:
    delivery = Delivery(Projection(THREAD, RUN, RUN), cursor or Cursor(9))
    return [frame for seq, event in events for frame in delivery.feed(seq, event)]


def types(frames: list[Frame]) -> list[str]:
    return [type(f.event).__struct_config__.tag for f in frames]  # type: ignore[attr-defined]


def wire(frame: Frame) -> dict[str, Any]:
    return json.loads(w.encode_event(frame.event))


def test_a_run_becomes_reasoning_a_tool_call_and_an_answer_in_order() -> None:
    frames = project(a_run())
    assert types(frames) == [
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "ACTIVITY_SNAPSHOT",
        "TOOL_CALL_RESULT",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    by_type = {wire(f)["type"]: wire(f) for f in frames}
    assert by_type["TOOL_CALL_ARGS"]["delta"] == '{"s":"api"}'
    assert json.loads(by_type["TOOL_CALL_RESULT"]["content"]) == {"p99": 3}
    assert by_type["ACTIVITY_SNAPSHOT"]["content"] == {
        "toolCallId": "c1",
        "toolName": "scan",
        "progress": 0.5,
    }
    assert by_type["TEXT_MESSAGE_START"]["role"] == "assistant"
    assert by_type["RUN_FINISHED"]["outcome"] == {"type": "success"}


def test_every_event_made_is_valid_ag_ui_1_0() -> None:
    projection = Projection(THREAD, RUN, RUN)
    frames = [projection.started(9), *project(a_run())]
    for frame in frames:
        OFFICIAL.validate_python(wire(frame))
    assert wire(frames[0]) == {
        "type": "RUN_STARTED",
        "threadId": THREAD,
        "runId": RUN,
        "protocolVersion": "1.0",
    }


def test_frame_ids_are_log_positions_with_a_part_for_all_but_an_events_last_frame() -> None:
    frames = project(a_run())
    assert [f.id for f in frames[4:7]] == ["15.0", "15.1", "15"]
    assert frames[0].id == "11" and frames[-1].id == "22"


@pytest.mark.parametrize("cut", range(0, 17))
def test_a_stream_cut_anywhere_continues_after_its_last_id_with_nothing_lost_or_doubled(
    cut: int,
) -> None:
    whole = project(a_run())
    received = whole[: cut + 1]
    cursor = Cursor.parse(received[-1].id)
    assert cursor is not None
    rest = project(a_run(), cursor)
    assert [wire(f) for f in received + rest] == [wire(f) for f in whole]


def test_a_whole_answer_that_was_never_streamed_is_start_content_end() -> None:
    events = [
        (
            5,
            ev(
                e.AgentCompleted,
                e.AgentCompletedData(agent_id="a", result="Done.", message_id="m9"),
            ),
        )
    ]
    frames = project(events, Cursor(4))
    assert types(frames) == [
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert wire(frames[1])["delta"] == "Done."


def test_a_cancel_closes_what_is_open_and_finishes_cancelled() -> None:
    events = [
        *a_run()[:3],
        (30, ev(e.AgentCancelled, e.AgentCancelledData(agent_id="a"))),
    ]
    frames = project(events)
    assert types(frames)[-2:] == ["REASONING_MESSAGE_END", "RUN_FINISHED"]
    assert wire(frames[-1])["outcome"] == {"type": "cancelled"}


def test_a_failure_is_run_error_with_the_code() -> None:
    failed = e.AgentFailedData(agent_id="a", code="tool_timeout", message="too slow")
    frames = project([(30, ev(e.AgentFailed, failed))])
    assert wire(frames[-1]) | {"timestamp": 0} == {
        "type": "RUN_ERROR",
        "message": "too slow",
        "code": "tool_timeout",
        "timestamp": 0,
    }


def test_a_failed_tool_result_carries_its_error_as_content() -> None:
    done = e.ToolCompletedData(
        tool_call_id="c1",
        tool_name="scan",
        result=None,
        error=e.ToolError(code="cancelled", message="stopped"),
    )
    frames = project([(30, ev(e.ToolCompleted, done))])
    assert json.loads(wire(frames[0])["content"]) == {
        "error": {"code": "cancelled", "message": "stopped"}
    }


def approval(seq: int, approval_id: str = "ap1") -> tuple[int, Any]:
    data = e.ApprovalRequestedData(
        approval_id=approval_id,
        tool_call_id="c2",
        tool_name="apply",
        parameters={"service": "db"},
        reason="p99 is high",
        expires_at=2_000_000_000.0,
    )
    return seq, ev(e.ApprovalRequested, data)


def approved_run() -> list[tuple[int, Any]]:
    resolved = e.ApprovalResolvedData(approval_id="ap1", decision="approved")
    events = [*a_run()[:5], approval(0), (0, ev(e.ApprovalResolved, resolved)), *a_run()[5:]]
    return renumbered(events)  # the approval is at 15


def test_an_approval_ends_the_ag_ui_run_with_an_interrupt_to_answer() -> None:
    delivery = Delivery(Projection(THREAD, RUN, RUN), Cursor(9))
    frames = [f for seq, event in approved_run() for f in delivery.feed(seq, event)]
    last = wire(frames[-1])
    assert last["type"] == "RUN_FINISHED" and delivery.finished
    [interrupt] = last["outcome"]["interrupts"]
    assert interrupt["id"] == interrupt_id(RUN, "ap1")
    assert parse_interrupt_id(interrupt["id"]) == (RUN, "ap1")
    assert interrupt["toolCallId"] == "c2" and interrupt["expiresAt"].startswith("2033-05-18")
    assert interrupt["responseSchema"]["required"] == ["approved"]
    OFFICIAL.validate_python(last)


def test_a_resumed_delivery_goes_on_from_the_approval_under_the_new_run_id() -> None:
    projection = Projection(THREAD, RUN, "run-2")
    delivery = Delivery(projection, Cursor(15), resumed_at=15)
    frames = [f for seq, event in approved_run() for f in delivery.feed(seq, event)]
    assert types(frames)[:3] == ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END"]
    assert wire(frames[-1])["runId"] == "run-2" and wire(frames[-1])["outcome"]["type"] == "success"
    assert projection.phase is Phase.ENDED


def test_a_message_open_at_the_interrupt_is_closed_and_reopened_after_it() -> None:
    events = renumbered([*a_run()[:11], approval(0), *a_run()[11:]])  # the approval is at 21
    first = Delivery(Projection(THREAD, RUN, RUN), Cursor(9))
    before = [f for seq, event in events for f in first.feed(seq, event)]
    assert types(before)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    second = Delivery(Projection(THREAD, RUN, "run-2"), Cursor(21), resumed_at=21)
    after = [f for seq, event in events for f in second.feed(seq, event)]
    assert types(after) == [
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]


def test_a_stream_whose_last_event_was_delivered_is_finished_at_once() -> None:
    delivery = Delivery(Projection(THREAD, RUN, RUN), Cursor(22))
    assert [f for seq, event in a_run() for f in delivery.feed(seq, event)] == []
    assert delivery.finished


def test_other_runs_events_are_ignored() -> None:
    other = e.AgentStarted(
        run_id="other", thread_id=THREAD, data=e.AgentStartedData(agent_id="a", message="x")
    )
    cancelled = e.AgentCancelled(
        run_id="other", thread_id=THREAD, data=e.AgentCancelledData(agent_id="a")
    )
    assert project([(10, other), (11, cancelled)]) == []


@pytest.mark.parametrize("text", ["", "x", "1.", ".1", "1.x", "-1"])
def test_a_last_event_id_that_is_not_a_position_is_refused(text: str) -> None:
    assert Cursor.parse(text) is None


def test_a_cursor_round_trips() -> None:
    assert Cursor.parse("42") == Cursor(42) and Cursor.parse("42.3") == Cursor(42, 3)
    assert str(Cursor(42, 3)) == "42.3"


def test_input_decodes_the_last_user_message_and_resume_entries() -> None:
    body = {
        "threadId": "t",
        "runId": "r",
        "messages": [
            {"id": "1", "role": "user", "content": "old"},
            {"id": "2", "role": "assistant", "content": "x", "toolCalls": []},
            {"id": "3", "role": "user", "content": [{"type": "text", "text": "new"}]},
        ],
        "tools": [],
        "resume": [{"interruptId": "r.a", "status": "resolved", "payload": {"approved": True}}],
        "somethingNew": 1,
    }
    run_input = w.decode_input(msgspec.json.encode(body))
    assert w.last_user_text(run_input) == "new"
    assert run_input.resume is not None and run_input.resume[0].payload == {"approved": True}
