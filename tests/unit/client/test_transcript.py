"""Folding events into each run's messages, tool calls and outcome: no socket, no event loop
(but for ``follow``). Frames are shaped as docs/protocol.md, *Streamed text*, describes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from agentwire_client import (
    ApprovalUpdate,
    MessageStatus,
    MessageUpdate,
    RunStatus,
    RunUpdate,
    ToolStatus,
    ToolUpdate,
    Transcript,
)

RUN, THREAD = "r1", "t1"


def event(seq: int, type_: str, run_id: str = RUN, **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "run_id": run_id, "thread_id": THREAD, "data": data}


def started(seq: int, message_id: str, kind: str = "answer") -> dict[str, Any]:
    return event(seq, "message_started", message_id=message_id, kind=kind, agent_id="a")


def delta(seq: int, message_id: str, text: str) -> dict[str, Any]:
    return event(seq, "message_delta", message_id=message_id, delta=text)


def thought(seq: int, text: str, message_id: str | None = None) -> dict[str, Any]:
    return event(seq, "agent_thinking", agent_id="a", thought=text, message_id=message_id)


def answer(seq: int, text: str, message_id: str = "m-answer") -> dict[str, Any]:
    return event(seq, "agent_completed", agent_id="a", result=text, message_id=message_id)


def fold(*frames: dict[str, Any]) -> Transcript:
    transcript = Transcript()
    for frame in frames:
        transcript.apply(frame)
    return transcript


def texts(transcript: Transcript, run_id: str = RUN) -> dict[str, str]:
    return {m.message_id: m.text for m in transcript.runs[run_id].messages.values()}


def test_a_streamed_thought_grows_with_each_delta_and_its_agent_thinking_completes_it() -> None:
    transcript = fold(event(1, "agent_started", agent_id="a", message="hi"))
    seen = []
    for frame in (started(2, "m1", "thinking"), delta(3, "m1", "Look"), delta(4, "m1", "ing")):
        seen += [(u.message.text, u.delta) for u in transcript.apply(frame)]
    message = transcript.runs[RUN].messages["m1"]
    assert seen == [("", ""), ("Look", "Look"), ("Looking", "ing")]
    assert (message.kind, message.status) == ("thinking", MessageStatus.STREAMING)

    transcript.apply(thought(5, "Looking at the api.", "m1"))
    assert (message.text, message.status) == ("Looking at the api.", MessageStatus.COMPLETE)


def test_the_answer_completes_with_agent_completed_and_the_run_is_completed() -> None:
    transcript = fold(started(1, "m2"), delta(2, "m2", "p99 is "), delta(3, "m2", "high"))
    updates = transcript.apply(answer(4, "p99 is high.", "m2"))
    run = transcript.runs[RUN]
    assert run.status is RunStatus.COMPLETED and run.ended and run.result == "p99 is high."
    assert run.answer is not None and run.answer.text == "p99 is high."
    assert run.answer.status is MessageStatus.COMPLETE
    assert isinstance(updates[-1], RunUpdate)


def test_a_failure_cuts_open_messages_short_where_they_got_to() -> None:
    transcript = fold(started(1, "m2"), delta(2, "m2", "The api"))
    updates = transcript.apply(
        event(3, "agent_failed", agent_id="a", code="tool_lost", message="x")
    )
    run = transcript.runs[RUN]
    assert (run.status, run.error_code, run.error_message) == (RunStatus.FAILED, "tool_lost", "x")
    assert run.messages["m2"].text == "The api"
    assert run.messages["m2"].status is MessageStatus.CUT_SHORT
    assert [type(u) for u in updates] == [MessageUpdate, RunUpdate]


def test_a_cancelled_run_keeps_its_reason() -> None:
    transcript = fold(event(1, "agent_cancelled", agent_id="a", reason="cancelled by the user"))
    run = transcript.runs[RUN]
    assert (run.status, run.error_message) == (RunStatus.CANCELLED, "cancelled by the user")


def test_without_deltas_thoughts_and_the_answer_arrive_as_whole_messages() -> None:
    transcript = fold(
        event(1, "agent_started", agent_id="a", message="hi"),
        thought(2, "First."),
        thought(5, "Second."),
        event(9, "agent_completed", agent_id="a", result="Done."),
    )
    run = transcript.runs[RUN]
    assert texts(transcript) == {"seq-2": "First.", "seq-5": "Second.", "seq-9": "Done."}
    assert [m.kind for m in run.messages.values()] == ["thinking", "thinking", "answer"]
    assert all(m.status is MessageStatus.COMPLETE for m in run.messages.values())


def test_an_event_at_or_below_the_runs_newest_seq_is_not_folded_twice() -> None:
    transcript = fold(started(1, "m1"), delta(2, "m1", "ab"))
    assert transcript.apply(delta(2, "m1", "ab")) == []
    assert texts(transcript) == {"m1": "ab"}


def test_a_delta_after_the_whole_text_changes_nothing() -> None:
    transcript = fold(started(1, "m1", "thinking"), thought(3, "whole", "m1"))
    assert transcript.apply(delta(4, "m1", " late")) == []
    assert texts(transcript) == {"m1": "whole"}


def test_compact_replay_completes_a_message_with_only_its_completing_event() -> None:
    """A deltas=1 socket resuming: a message completed within the replay is its event alone."""
    transcript = fold(started(1, "m1", "thinking"), delta(2, "m1", "Chec"))  # then a drop
    transcript.apply(thought(6, "Checking the api.", "m1"))
    assert texts(transcript) == {"m1": "Checking the api."}


def test_compact_replay_of_an_open_message_appends_the_text_that_was_missed() -> None:
    transcript = fold(started(1, "m2"), delta(2, "m2", "The api "))  # then a drop
    transcript.apply(delta(7, "m2", "is slow "))  # deltas 3..7 merged into one
    transcript.apply(delta(8, "m2", "at p99."))  # live again
    assert texts(transcript) == {"m2": "The api is slow at p99."}


def test_a_replay_that_began_mid_message_learns_its_kind_from_the_completing_event() -> None:
    transcript = fold(delta(7, "m2", "the rest"))
    assert transcript.runs[RUN].messages["m2"].kind is None
    transcript.apply(answer(8, "all of the rest", "m2"))
    assert transcript.runs[RUN].messages["m2"].kind == "answer"


def snapshot(upto_seq: int, *events: dict[str, Any]) -> dict[str, Any]:
    return {"type": "run_snapshot", "run_id": RUN, "thread_id": THREAD, "upto_seq": upto_seq,
            "events": list(events)}  # fmt: skip


def test_a_snapshot_on_join_gives_each_open_message_its_text_so_far_then_live_deltas_add() -> None:
    transcript = Transcript()
    updates = transcript.apply(
        snapshot(
            9,
            event(1, "agent_started", agent_id="a", message="hi"),
            thought(4, "Looked.", "m1"),
            event(5, "tool_executing", tool_call_id="c1", tool_name="slow_task", parameters={}),
            event(8, "tool_progress", tool_call_id="c1", tool_name="slow_task", progress=0.5),
            started(6, "m2"),
            delta(9, "m2", "So far"),
        )
    )
    transcript.apply(delta(10, "m2", ", more"))
    run = transcript.runs[RUN]
    assert run.thread_id == THREAD and run.status is RunStatus.RUNNING
    assert texts(transcript) == {"m1": "Looked.", "m2": "So far, more"}
    assert run.tools["c1"].progress == 0.5
    assert {type(u) for u in updates} == {RunUpdate, MessageUpdate, ToolUpdate}


def test_a_snapshot_of_a_run_folded_live_replaces_open_text_and_later_duplicates_are_skipped() -> (
    None
):
    """run_events for a run already on screen: its merged delta is the whole text so far."""
    transcript = fold(started(6, "m2"), delta(7, "m2", "So "))
    transcript.apply(snapshot(9, started(6, "m2"), delta(9, "m2", "So far")))
    transcript.apply(delta(8, "m2", "fa"))  # live, already in the snapshot
    transcript.apply(delta(10, "m2", "!"))
    assert texts(transcript) == {"m2": "So far!"}


def test_a_snapshot_older_than_what_was_folded_changes_nothing() -> None:
    transcript = fold(started(6, "m2"), delta(7, "m2", "So "), delta(11, "m2", "far"))
    assert transcript.apply(snapshot(9, started(6, "m2"), delta(9, "m2", "So f"))) == []
    assert texts(transcript) == {"m2": "So far"}


def test_a_finished_runs_history_folds_into_its_thinking_tools_and_answer() -> None:
    transcript = Transcript()
    transcript.apply(snapshot(20, thought(12, "Hm.", "m1"), answer(20, "Fine.", "m2")))
    run = transcript.runs[RUN]
    assert run.status is RunStatus.COMPLETED and texts(transcript) == {"m1": "Hm.", "m2": "Fine."}


def test_a_tool_call_reports_progress_until_it_completes() -> None:
    call = {"tool_call_id": "c1", "tool_name": "slow_task"}
    transcript = fold(event(1, "tool_executing", parameters={"seconds": 3}, **call))
    transcript.apply(event(2, "tool_progress", progress=0.25, message="step 1 of 4", **call))
    tool = transcript.runs[RUN].tools["c1"]
    assert (tool.status, tool.progress, tool.progress_message) == (
        ToolStatus.RUNNING, 0.25, "step 1 of 4",
    )  # fmt: skip
    transcript.apply(event(3, "tool_completed", result={"steps": 4}, duration_ms=3000.0, **call))
    assert (tool.status, tool.result, tool.duration_ms) == (
        ToolStatus.COMPLETED, {"steps": 4}, 3000.0,
    )  # fmt: skip


def test_a_failed_tool_call_keeps_its_error() -> None:
    call = {"tool_call_id": "c1", "tool_name": "slow_task"}
    error = {"code": "cancelled", "message": "stopped"}
    transcript = fold(event(1, "tool_executing", parameters={}, **call))
    transcript.apply(event(2, "tool_completed", result=None, error=error, **call))
    assert transcript.runs[RUN].tools["c1"].status is ToolStatus.FAILED
    assert transcript.runs[RUN].tools["c1"].error == error


def test_an_accepted_run_is_queued_until_it_starts() -> None:
    transcript = Transcript()
    accepted = {"type": "run_accepted", "run_id": RUN, "thread_id": THREAD, "state": "queued"}
    assert [type(u) for u in transcript.apply(accepted)] == [RunUpdate]
    assert transcript.runs[RUN].status is RunStatus.QUEUED
    transcript.apply(event(3, "agent_started", agent_id="a", message="hi"))
    assert transcript.runs[RUN].status is RunStatus.RUNNING


def test_frames_that_are_not_events_fold_into_nothing() -> None:
    transcript = Transcript()
    assert transcript.apply({"type": "pong"}) == []
    assert transcript.apply({"type": "caught_up", "last_seq": 4}) == []
    assert transcript.runs == {}


def test_runs_are_kept_apart() -> None:
    transcript = fold(delta(1, "m1", "one"), event(2, "message_delta", "r2", message_id="m1",
                                                    delta="two"))  # fmt: skip
    assert texts(transcript, RUN) == {"m1": "one"} and texts(transcript, "r2") == {"m1": "two"}


async def test_follow_yields_the_text_so_far_of_each_message_as_frames_come() -> None:
    async def frames() -> AsyncIterator[dict[str, Any]]:
        for frame in (started(1, "m1"), delta(2, "m1", "Hel"), delta(3, "m1", "lo"),
                      answer(4, "Hello", "m1")):  # fmt: skip
            await asyncio.sleep(0)
            yield frame

    so_far = [
        update.message.text
        async for update in Transcript().follow(frames())
        if isinstance(update, MessageUpdate)
    ]
    assert so_far == ["", "Hel", "Hello", "Hello"]


def test_an_approval_waits_until_it_is_resolved() -> None:
    asked = {"approval_id": "a1", "tool_call_id": "c1", "tool_name": "slow_task"}
    asked |= {"parameters": {"seconds": 60}, "reason": "it takes a minute", "expires_at": 99.0}
    transcript = fold(event(1, "approval_requested", **asked))
    run = transcript.runs[RUN]
    assert [a.approval_id for a in run.waiting_for] == ["a1"]
    assert run.approvals["a1"].reason == "it takes a minute"
    updates = transcript.apply(
        event(2, "approval_resolved", approval_id="a1", decision="denied", decided_by="user")
    )
    assert isinstance(updates[0], ApprovalUpdate) and updates[0].approval.decision == "denied"
    assert run.waiting_for == []
