"""runstate.js on its own: a run's events, however they came (live, a compact replay, a snapshot
on join), folded into what a person reads. No server: the module is served from the source tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

SETUP = """
window.ev = (seq, type, data = {}) => ({seq, type, run_id: "r1", thread_id: "t1",
                                        data: {agent_id: "a", timestamp: seq, ...data}});
window.fold = async (events) => {
  const {RunState} = await import("/agentwire.js");
  return RunState.from(events, "r1");
};
window.texts = (state) => [...state.messages.values()].map(
  (m) => [m.kind, m.text, m.complete, m.cut]);
// A streamed thought (m1), a tool with progress, a streamed answer (m2), as they go live.
window.LIVE = [
  ev(1, "agent_started", {message: "On it"}),
  ev(2, "message_started", {message_id: "m1", kind: "thinking"}),
  ev(3, "message_delta", {message_id: "m1", delta: "Looking at "}),
  ev(4, "message_delta", {message_id: "m1", delta: "the api."}),
  ev(5, "agent_thinking", {message_id: "m1", thought: "Looking at the api.", step: 1}),
  ev(6, "tool_executing", {tool_call_id: "c1", tool_name: "slow_task", parameters: {n: 3}}),
  ev(7, "tool_progress", {tool_call_id: "c1", tool_name: "slow_task", progress: 0.25,
                          message: "step 1 of 4"}),
  ev(8, "tool_progress", {tool_call_id: "c1", tool_name: "slow_task", progress: 0.75,
                          message: "step 3 of 4"}),
  ev(9, "tool_completed", {tool_call_id: "c1", tool_name: "slow_task", result: {ok: true},
                           duration_ms: 900}),
  ev(10, "message_started", {message_id: "m2", kind: "answer"}),
  ev(11, "message_delta", {message_id: "m2", delta: "The p99 "}),
  ev(12, "message_delta", {message_id: "m2", delta: "doubled."}),
  ev(13, "agent_completed", {message_id: "m2", result: "The p99 doubled."}),
];
true;
"""


@pytest.fixture
def page(static_page: Page) -> Page:
    static_page.evaluate(SETUP)
    return static_page


def run(page: Page, body: str) -> Any:
    return page.evaluate(f"async () => {{ {body} }}")


def test_deltas_build_the_text_and_the_completing_event_makes_it_whole(page: Page) -> None:
    result = run(
        page,
        """
        const {RunState} = await import("/agentwire.js");
        const state = new RunState("r1");
        const seen = [];
        for (const e of LIVE) {
          state.apply(e);
          const answer = state.answer;
          if (answer) seen.push([answer.text, answer.complete]);
        }
        return [texts(state), seen, state.status, state.outcome.text];
        """,
    )
    messages, answer_seen, status, outcome = result
    assert messages == [
        ["thinking", "Looking at the api.", True, False],
        ["answer", "The p99 doubled.", True, False],
    ]
    assert answer_seen == [
        ["", False], ["The p99 ", False], ["The p99 doubled.", False], ["The p99 doubled.", True]
    ]  # fmt: skip
    assert (status, outcome) == ("completed", "The p99 doubled.")


def test_a_tool_keeps_its_latest_progress_until_it_completes(page: Page) -> None:
    result = run(
        page,
        """
        const state = await fold(LIVE.slice(0, 8));
        const running = {...state.tools.get("c1")};
        state.apply(LIVE[8]);
        state.apply(ev(20, "tool_progress", {tool_call_id: "c1", tool_name: "slow_task",
                                             progress: 0.1, message: "late"}));
        const done = state.tools.get("c1");
        return [[running.state, running.progress, running.message],
                [done.state, done.progress, done.message, done.result, done.durationMs]];
        """,
    )
    assert result == [
        ["running", 0.75, "step 3 of 4"],
        ["done", 0.75, "step 3 of 4", {"ok": True}, 900],
    ]


def test_a_compact_replay_and_a_snapshot_fold_to_the_same_run_as_the_live_stream(
    page: Page,
) -> None:
    """Resuming after seq 3: m1 completed within the range comes as its agent_thinking only;
    m2 still open comes as its start and one delta with all its text so far."""
    result = run(
        page,
        """
        const live = await fold(LIVE.slice(0, 11));
        const resumed = await fold([...LIVE.slice(0, 3),
          LIVE[4], LIVE[5], LIVE[7], LIVE[8], LIVE[9],
          ev(11, "message_delta", {message_id: "m2", delta: "The p99 "})]);
        const {RunState} = await import("/agentwire.js");
        const joined = new RunState("r1");
        const fresh = joined.applySnapshot({type: "run_snapshot", run_id: "r1", upto_seq: 11,
          events: [LIVE[9], ev(11, "message_delta", {message_id: "m2", delta: "The p99 "}),
                   LIVE[8], LIVE[4], LIVE[0], LIVE[5]]});
        const again = joined.applySnapshot({run_id: "r1", upto_seq: 11, events: [LIVE[4]]});
        const tool = (s) => s.tools.get("c1").state;
        return [texts(live), texts(resumed), texts(joined), [tool(live), tool(resumed)],
                fresh, again];
        """,
    )
    live, resumed, joined, tools, fresh, again = result
    assert live == [
        ["thinking", "Looking at the api.", True, False],
        ["answer", "The p99 ", False, False],
    ]
    assert resumed == live and joined == live
    assert tools == ["done", "done"]
    assert (fresh, again) == (6, 0)


def test_the_end_of_a_run_ends_every_open_message_where_it_got_to(page: Page) -> None:
    result = run(
        page,
        """
        const stopped = await fold([...LIVE.slice(0, 7), ev(8, "message_started",
          {message_id: "m3", kind: "thinking"}), ev(9, "message_delta",
          {message_id: "m3", delta: "Half a tho"}), ev(10, "agent_cancelled",
          {reason: "cancelled by the user"})]);
        return [texts(stopped), stopped.tools.get("c1").state, stopped.status,
                stopped.outcome.text];
        """,
    )
    assert result == [
        [["thinking", "Looking at the api.", True, False], ["thinking", "Half a tho", True, True]],
        "abandoned",
        "cancelled",
        "cancelled by the user",
    ]


def test_text_that_was_not_streamed_makes_whole_messages(page: Page) -> None:
    """What a socket without deltas gets: thoughts and the answer, each whole, no message_id."""
    result = run(
        page,
        """
        const state = await fold([ev(1, "agent_started", {message: "On it"}),
          ev(2, "agent_thinking", {thought: "One", step: 1}),
          ev(3, "agent_thinking", {thought: "Two", step: 2}),
          ev(4, "agent_thinking", {thought: "Two", step: 2}),
          ev(3, "agent_thinking", {thought: "Two", step: 2}),
          ev(5, "agent_failed", {code: "tool_failed", message: "it broke"})]);
        return [texts(state), state.outcome];
        """,
    )
    assert result == [
        [["thinking", "One", True, False], ["thinking", "Two", True, False],
         ["thinking", "Two", True, False]],
        {"status": "failed", "text": "it broke", "code": "tool_failed", "seq": 5},
    ]  # fmt: skip


def test_an_approval_is_pending_until_resolved_and_records_who_decided(page: Page) -> None:
    result = run(
        page,
        """
        const {RunState} = await import("/agentwire.js");
        const asked = [ev(1, "agent_started"),
          ev(2, "approval_requested", {approval_id: "p1", tool_call_id: "c1",
            tool_name: "apply_recommendation", parameters: {service: "db"},
            reason: "it is slow", expires_at: 600})];
        const state = RunState.from(asked, "r1");
        const before = state.pending.map((a) => [a.id, a.state, a.toolName, a.reason,
                                                  a.expiresAt]);
        state.apply(ev(3, "approval_resolved", {approval_id: "p1", decision: "denied",
                                                reason: "not now", decided_by: "user"}));
        const a = state.approvals.get("p1");
        // A snapshot taken while it waits folds to a pending approval too.
        const joined = new RunState("r1");
        joined.applySnapshot({run_id: "r1", upto_seq: 2, events: [...asked].reverse()});
        return [before, state.pending.length, [a.state, a.decision, a.denyReason, a.decidedBy,
                a.decidedAt], joined.pending.map((p) => p.id)];
        """,
    )
    before, pending_after, decided, joined = result
    assert before == [["p1", "pending", "apply_recommendation", "it is slow", 600]]
    assert pending_after == 0
    assert decided == ["decided", "denied", "not now", "user", 3]
    assert joined == ["p1"]


def test_a_question_is_an_approval_with_no_tool(page: Page) -> None:
    result = run(
        page,
        """
        const state = await fold([ev(1, "approval_requested", {approval_id: "q1",
          tool_name: "", parameters: {}, question: "Restart the api?", reason: "",
          expires_at: 60})]);
        const q = state.approvals.get("q1");
        return [q.question, q.toolName, q.state];
        """,
    )
    assert result == ["Restart the api?", "", "pending"]
