"""Streamed text folded for replays and snapshots: what the client gets instead of every delta."""

from __future__ import annotations

import json

from services.ws_gateway.compaction import (
    Compactor,
    ReplayPlan,
    RunHistory,
    event_type,
    is_stream_event,
)
from shared.wire import events as ev

RUN, THREAD = "run-1", "thread-1"
IDS = {"run_id": RUN, "thread_id": THREAD}


def started(message_id: str, kind: ev.MessageKind = "answer", run_id: str = RUN) -> bytes:
    data = ev.MessageStartedData(message_id=message_id, kind=kind, agent_id="a")
    return ev.encode_event(ev.MessageStarted(run_id=run_id, thread_id=THREAD, data=data))


def delta(message_id: str, text: str, run_id: str = RUN) -> bytes:
    data = ev.MessageDeltaData(message_id=message_id, delta=text)
    return ev.encode_event(ev.MessageDelta(run_id=run_id, thread_id=THREAD, data=data))


def thought(message_id: str, text: str) -> bytes:
    data = ev.AgentThinkingData(agent_id="a", thought=text, message_id=message_id)
    return ev.encode_event(ev.AgentThinking(**IDS, data=data))


def completed(message_id: str, text: str) -> bytes:
    data = ev.AgentCompletedData(agent_id="a", result=text, message_id=message_id)
    return ev.encode_event(ev.AgentCompleted(**IDS, data=data))


def failed() -> bytes:
    data = ev.AgentFailedData(agent_id="a", code="agent_error", message="boom")
    return ev.encode_event(ev.AgentFailed(**IDS, data=data))


def progress(call_id: str, fraction: float) -> bytes:
    data = ev.ToolProgressData(tool_call_id=call_id, tool_name="slow_task", progress=fraction)
    return ev.encode_event(ev.ToolProgress(**IDS, data=data))


def tool_done(call_id: str) -> bytes:
    data = ev.ToolCompletedData(tool_call_id=call_id, tool_name="slow_task", result={})
    return ev.encode_event(ev.ToolCompleted(**IDS, data=data))


def agent_started(run_id: str = RUN) -> bytes:
    data = ev.AgentStartedData(agent_id="a", message="go")
    return ev.encode_event(ev.AgentStarted(run_id=run_id, thread_id=THREAD, data=data))


def numbered(*payloads: bytes, first: int = 1) -> list[tuple[int, bytes]]:
    return [(first + index, payload) for index, payload in enumerate(payloads)]


def compacted(stored: list[tuple[int, bytes]]) -> list[tuple[int, dict[str, object]]]:
    plan = ReplayPlan()
    plan.scan(stored)
    compactor = Compactor(plan)
    out = []
    for seq, payload in stored:
        kept = compactor.apply(seq, payload)
        if kept is not None:
            out.append((seq, json.loads(kept)))
    return out


def test_stream_events_are_told_apart_without_parsing() -> None:
    assert is_stream_event(delta("m", "x"))
    assert is_stream_event(started("m"))
    assert is_stream_event(progress("c", 0.5))
    assert not is_stream_event(thought("m", "x"))
    assert not is_stream_event(b'{"data":{"type":"message_delta"}}')
    assert event_type(completed("m", "x")) == "agent_completed"
    assert event_type(b"[]") == ""


def test_a_message_completed_in_the_range_replays_as_its_completing_event_only() -> None:
    stored = numbered(
        agent_started(), started("t1", "thinking"), delta("t1", "I "), delta("t1", "think"),
        thought("t1", "I think"), failed(),
    )  # fmt: skip
    kinds = [frame["type"] for _, frame in compacted(stored)]
    assert kinds == ["agent_started", "agent_thinking", "agent_failed"]


def test_an_open_message_replays_as_one_delta_with_exactly_the_missing_text() -> None:
    # The client resumed after seq 3: it has "Hel"; seq 4.. are replayed.
    stored = numbered(delta("a", "lo, "), agent_started("run-2"), delta("a", "world"), first=4)
    out = compacted(stored)
    assert [(seq, frame["type"]) for seq, frame in out] == [
        (5, "agent_started"),
        (6, "message_delta"),
    ]
    assert out[1][1]["data"] == {**out[1][1]["data"], "message_id": "a", "delta": "lo, world"}  # type: ignore[dict-item]


def test_deltas_stored_after_the_plan_pass_through_as_stored() -> None:
    plan = ReplayPlan()
    plan.scan(numbered(delta("a", "one ")))
    compactor = Compactor(plan)
    assert json.loads(compactor.apply(1, delta("a", "one ")) or b"")["data"]["delta"] == "one "
    later = delta("a", "two")
    assert compactor.apply(2, later) == later


def test_progress_of_a_finished_tool_is_dropped_and_a_running_one_keeps_its_newest() -> None:
    stored = numbered(
        progress("done", 0.1), progress("done", 0.9), tool_done("done"),
        progress("running", 0.2), progress("running", 0.6),
    )  # fmt: skip
    out = compacted(stored)
    assert [(frame["type"], frame["data"].get("progress")) for _, frame in out] == [  # type: ignore[union-attr]
        ("tool_completed", None),
        ("tool_progress", 0.6),
    ]


def test_a_snapshot_holds_runs_under_way_folded_and_leaves_ended_ones_out() -> None:
    history = RunHistory()
    history.feed(
        numbered(
            agent_started(), started("t1", "thinking"), delta("t1", "a"), delta("t1", "b"),
            thought("t1", "ab"), started("ans"), delta("ans", "Hel"), agent_started("run-2"),
            delta("ans", "lo"), progress("c", 0.5), started("x", run_id="run-2"), failed(),
        )
    )  # fmt: skip
    history.feed(numbered(delta("y", "z", run_id="run-3"), first=20))
    frames = [json.loads(frame) for frame in history.snapshots(upto_seq=20)]
    assert [frame["run_id"] for frame in frames] == ["run-2", "run-3"]  # run-1 ended (failed)


def test_a_run_history_folds_messages_and_keeps_seq_order() -> None:
    history = RunHistory(RUN)
    history.feed(
        numbered(
            agent_started(), started("t1", "thinking"), delta("t1", "a"), delta("t1", "b"),
            thought("t1", "ab"), progress("c", 0.2), agent_started("other"), progress("c", 0.7),
            started("ans"), delta("ans", "Hel"), delta("ans", "lo"),
        )
    )  # fmt: skip
    snapshot = json.loads(history.snapshot(RUN, upto_seq=11))
    assert snapshot["type"] == "run_snapshot"
    assert (snapshot["run_id"], snapshot["thread_id"], snapshot["upto_seq"]) == (RUN, THREAD, 11)
    got = [(frame["seq"], frame["type"]) for frame in snapshot["events"]]
    assert got == [
        (1, "agent_started"),
        (5, "agent_thinking"),
        (8, "tool_progress"),
        (9, "message_started"),
        (11, "message_delta"),
    ]
    assert snapshot["events"][-1]["data"]["delta"] == "Hello"


def test_a_run_with_no_events_in_the_range_is_an_empty_snapshot() -> None:
    snapshot = json.loads(RunHistory("nope").snapshot("nope", upto_seq=5))
    assert snapshot["events"] == [] and snapshot["run_id"] == "nope"


def test_a_huge_tool_result_is_left_out_of_a_snapshot_and_said_so() -> None:
    data = ev.ToolCompletedData(tool_call_id="c", tool_name="x", result={"rows": "x" * 100_000})
    huge = ev.encode_event(ev.ToolCompleted(**IDS, data=data))
    history = RunHistory(RUN)
    history.feed(numbered(agent_started(), huge))
    snapshot = json.loads(history.snapshot(RUN, upto_seq=2))
    completed_tool = snapshot["events"][-1]
    assert completed_tool["data"]["result"] is None and completed_tool["data"]["truncated"] is True
    assert completed_tool["data"]["tool_call_id"] == "c"
    assert len(history.snapshot(RUN, upto_seq=2)) < 2_000
