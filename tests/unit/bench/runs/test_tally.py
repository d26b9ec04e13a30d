import pytest

from bench.runs.checker import Checker, Frame, FrameData, Message, SocketView
from bench.runs.tally import merge_reports, phase_report

WINDOW = (100.0, 110.0)


def run_frames(run_id: str, seq: int) -> list[Frame]:
    data = FrameData(timestamp=100.0)
    return [
        Frame(type="agent_started", seq=seq, run_id=run_id, data=data),
        Frame(type="agent_completed", seq=seq + 1, run_id=run_id, data=data),
    ]


def one_phase(send_at: float, answer_after: float, end_after: float | None) -> Checker:
    """One message sent at ``send_at``, accepted after ``answer_after`` s, ended after
    ``end_after`` s (or never)."""
    checker, sock = Checker(), SocketView("u1")
    checker.start_phase("p", WINDOW)
    checker.sent(sock, Message("m1", "p", due_at=send_at, sent_at=send_at))
    checker.frame(
        sock,
        Frame(type="run_accepted", run_id="r1", client_msg_id="m1"),
        now=send_at + answer_after,
    )
    started, completed = run_frames("r1", 1)
    checker.frame(sock, started, now=send_at + answer_after)
    if end_after is not None:
        checker.frame(sock, completed, now=send_at + end_after)
    return checker


def test_a_phase_reports_the_latencies_of_messages_sent_in_its_window():
    checker = one_phase(send_at=101.0, answer_after=0.010, end_after=0.050)
    report = merge_reports([phase_report(checker, checker.tally, WINDOW)])
    assert report["counts"]["sent"] == report["counts"]["ended"] == 1
    assert report["counts"]["ended_in_window"] == 1
    assert report["latency"]["accept"]["p99_ms"] == pytest.approx(10.0, rel=0.01)
    assert report["latency"]["answer"]["p99_ms"] == pytest.approx(10.0, rel=0.01)
    assert report["latency"]["ended"]["p99_ms"] == pytest.approx(50.0, rel=0.01)
    assert report["terminals"] == {"agent_completed": 1}
    assert report["last_ended_at"] == pytest.approx(101.05)


def test_messages_sent_during_the_warm_up_are_counted_but_not_timed():
    checker = one_phase(send_at=99.5, answer_after=0.010, end_after=0.050)
    report = merge_reports([phase_report(checker, checker.tally, WINDOW)])
    assert report["counts"]["sent"] == 1
    assert report["latency"]["accept"]["n"] == 0


def test_an_accepted_run_that_never_ends_is_unfinished():
    checker = one_phase(send_at=101.0, answer_after=0.010, end_after=None)
    report = merge_reports([phase_report(checker, checker.tally, WINDOW)])
    assert report["counts"]["unfinished"] == 1
    assert report["counts"].get("ended", 0) == 0


def test_refused_messages_and_the_runs_started_for_them_anyway_are_counted_apart():
    checker, sock = Checker(), SocketView("u1")
    checker.start_phase("p", WINDOW)
    checker.sent(sock, Message("m1", "p", due_at=101.0, sent_at=101.0))
    error = Frame(type="error", data=FrameData(code="no_agent_available"))
    checker.frame(sock, error, now=106.0)
    for frame in run_frames("orphan", 1):
        checker.frame(sock, frame, now=107.0)
    counts = merge_reports([phase_report(checker, checker.tally, WINDOW)])["counts"]
    assert counts["refused"] == 1
    assert counts["orphan_runs"] == counts["orphan_runs_ended"] == 1
    assert "ended_in_window" not in counts  # the sustained rate counts only the phase's own
    assert counts["any_ended_in_window"] == 1


def test_reports_of_several_load_generators_add_up():
    a = one_phase(send_at=101.0, answer_after=0.010, end_after=0.050)
    b = one_phase(send_at=102.0, answer_after=0.030, end_after=0.100)
    merged = merge_reports([phase_report(a, a.tally, WINDOW), phase_report(b, b.tally, WINDOW)])
    assert merged["counts"]["sent"] == 2
    assert merged["latency"]["accept"]["n"] == 2
    assert merged["latency"]["accept"]["max_ms"] == pytest.approx(30.0, rel=0.01)
    assert merged["last_ended_at"] == pytest.approx(102.1)
