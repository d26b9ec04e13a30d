import msgspec
import pytest

from bench.runs.checker import Checker, Frame, FrameData, Message, SocketView

WINDOW = (0.0, 1e12)


def event(seq: int, kind: str, run_id: str = "r1", ts: float = 100.0, **data: str) -> Frame:
    return Frame(type=kind, seq=seq, run_id=run_id, data=FrameData(timestamp=ts, **data))


def accepted(msg_id: str, run_id: str = "r1") -> Frame:
    return Frame(type="run_accepted", run_id=run_id, client_msg_id=msg_id)


def sent(checker: Checker, sock: SocketView, msg_id: str = "m1", at: float = 99.0) -> Message:
    message = Message(msg_id, "p", due_at=at, sent_at=at)
    checker.sent(sock, message)
    return message


def a_whole_run(run_id: str = "r1", first_seq: int = 1) -> list[Frame]:
    kinds = ["agent_started", "agent_thinking", "tool_executing", "tool_completed"]
    frames = [
        event(first_seq + i, kind, run_id, tool_call_id="t1" if kind.startswith("tool") else None)
        for i, kind in enumerate(kinds)
    ]
    return [*frames, event(first_seq + len(kinds), "agent_completed", run_id)]


def checked(frames: list[Frame], msg_id: str = "m1") -> tuple[Checker, SocketView]:
    checker, sock = Checker(), SocketView("u1")
    checker.start_phase("p", WINDOW)
    sent(checker, sock, msg_id)
    for i, frame in enumerate(frames):
        checker.frame(sock, frame, now=100.0 + i / 100)
    return checker, sock


def test_a_clean_run_breaks_no_rule_and_resolves_its_message():
    checker, _ = checked([accepted("m1"), *a_whole_run()])
    assert dict(checker.tally.problems) == {}
    run = checker.runs["r1"]
    assert (run.terminal, run.events, run.message.msg_id) == ("agent_completed", 5, "m1")
    assert checker.unresolved("p") == 0


def test_the_run_accepted_may_come_after_the_runs_first_events_or_even_its_end():
    checker, _ = checked([*a_whole_run(), accepted("m1")])
    assert dict(checker.tally.problems) == {}
    assert checker.runs["r1"].message is not None
    assert checker.unresolved("p") == 0


def test_a_message_is_unresolved_until_its_run_ends():
    checker, _ = checked([accepted("m1"), *a_whole_run()[:-1]])
    assert checker.unresolved("p") == 1


def test_a_seq_seen_twice_is_doubled_and_a_lower_new_one_is_out_of_order():
    run = a_whole_run()
    checker, sock = checked([accepted("m1"), run[0], run[1], run[1], run[3], run[2], run[4]])
    assert checker.tally.problems["doubled"] == 1
    assert checker.tally.problems["out_of_order"] == 1
    assert sock.last_seq == 5


def test_the_terminal_event_must_be_last_and_alone():
    run = a_whole_run()
    late = event(6, "agent_thinking")
    again = event(7, "agent_failed", code="x")
    checker, _ = checked([accepted("m1"), *run, late, again])
    assert checker.tally.problems["after_terminal"] == 1
    assert checker.tally.problems["second_terminal"] == 1
    assert checker.runs["r1"].terminal == "agent_completed"


def test_a_run_must_begin_with_agent_started():
    run = a_whole_run()
    checker, _ = checked([accepted("m1"), run[1], run[0], *run[2:]])
    assert checker.tally.problems["not_started_first"] == 1


def test_a_tool_call_left_open_at_the_end_is_unpaired():
    run = a_whole_run()
    checker, _ = checked([accepted("m1"), run[0], run[1], run[2], run[4]])
    assert checker.tally.problems["unpaired_tool_call"] == 1


def test_an_error_frame_answers_the_sockets_oldest_unanswered_message():
    checker, sock = Checker(), SocketView("u1")
    checker.start_phase("p", WINDOW)
    first, second = sent(checker, sock, "m1"), sent(checker, sock, "m2")
    error = Frame(type="error", data=FrameData(code="no_agent_available"))
    checker.frame(sock, error, now=105.0)
    assert (first.error, second.error) == ("no_agent_available", None)
    assert checker.tally.errors == {"no_agent_available": 1}
    assert checker.unresolved("p") == 1


def test_a_run_nobody_was_told_about_still_counts_as_a_run():
    checker, _ = checked(a_whole_run("orphan"))
    assert checker.runs["orphan"].message is None
    assert checker.runs["orphan"].terminal == "agent_completed"
    assert checker.unresolved("p") == 1  # m1 is still waiting for its answer


def test_accepts_for_unknown_messages_are_counted():
    checker, _ = checked([accepted("nobody-sent-this")])
    assert checker.tally.problems["unknown_accept"] == 1


def test_delivery_latency_counts_events_published_inside_the_window():
    checker, sock = Checker(), SocketView("u1")
    checker.start_phase("p", (100.0, 101.0))
    for seq, ts in ((1, 99.5), (2, 100.2), (3, 101.5)):
        checker.frame(sock, event(seq, "agent_thinking", ts=ts), now=102.0)
    assert checker.tally.delivery.n == 1
    assert checker.tally.delivery.percentile(50) == pytest.approx(1.8, rel=0.01)


def test_frames_are_read_as_the_server_writes_them_and_garbage_is_counted():
    checker, sock = Checker(), SocketView("u1")
    checker.start_phase("p", WINDOW)
    sent(checker, sock, "m1")
    wire = [
        {
            "type": "run_accepted",
            "run_id": "r1",
            "thread_id": "t",
            "client_msg_id": "m1",
            "state": "queued",
            "ahead": 3,
        },
        {
            "seq": 7,
            "type": "agent_started",
            "run_id": "r1",
            "thread_id": "t",
            "data": {"agent_id": "a", "message": "hi", "timestamp": 100.0},
        },
        {
            "seq": 9,
            "type": "tool_completed",
            "run_id": "r1",
            "thread_id": "t",
            "data": {
                "tool_call_id": "c",
                "result": None,
                "error": {"code": "x", "message": "y"},
                "timestamp": 100.1,
            },
        },
    ]
    for frame in wire:
        checker.raw(sock, msgspec.json.encode(frame), now=100.5)
    checker.raw(sock, b"not json", now=100.5)
    assert checker.runs["r1"].message is not None
    assert checker.runs["r1"].events == 2
    assert checker.tally.problems["unpaired_tool_call"] == 1  # completed, never executing
    assert checker.tally.unparsed == 1
    assert list(sock.seqs) == [7, 9]
