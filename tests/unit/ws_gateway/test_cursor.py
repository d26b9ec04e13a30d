"""Resume, replay, live gaps and dedupe: what a client receives, without a socket or NATS.

Driven through the Session, which is the cursor's only caller; each test reads the frames a client
would get, in order.
"""

from __future__ import annotations

import json

from services.ws_gateway.session import Close, Command, Limits, Replay, Send, Session, State
from shared.errors import CloseCode
from shared.wire.runs import RunStarted
from tests.unit.ws_gateway.fakes import thinking

USER = "user-1"


def seen(commands: list[Command]) -> list[object]:
    """What the client reads: an event as its seq, any other frame as its type."""
    out: list[object] = []
    for command in commands:
        assert isinstance(command, Send), command
        frame = json.loads(command.frame)
        out.append(frame["seq"] if "seq" in frame else frame["type"])
    return out


def replay_of(commands: list[Command]) -> Replay:
    [command] = [c for c in commands if isinstance(c, Replay)]
    return command


def page(*seqs: int) -> list[tuple[int, bytes]]:
    return [(seq, thinking(f"event {seq}")) for seq in seqs]


def resumed(after_seq: int, session: Session | None = None) -> tuple[Session, Replay]:
    session = session or Session(USER)
    return session, replay_of(session.resume(after_seq))


# Resume: the replay, then held live events, then caught_up


def test_resume_asks_for_the_events_after_the_clients_seq_and_a_gap_check() -> None:
    _, replay = resumed(40)

    assert (replay.after_seq, replay.check_gap) == (40, True)


def test_resume_from_zero_needs_no_gap_check() -> None:
    assert not resumed(0)[1].check_gap


def test_replayed_events_then_caught_up_with_the_newest_seq() -> None:
    session, replay = resumed(40)

    got = seen(session.replayed(replay.generation, page(41, 45)))
    got += seen(session.replay_done(replay.generation, 45))

    assert got == [41, 45, "caught_up"]
    assert session.last_seq == 45


def test_caught_up_comes_even_when_nothing_was_missed() -> None:
    session, replay = resumed(40)

    assert seen(session.replay_done(replay.generation, 40)) == ["caught_up"]


def test_caught_up_carries_the_users_newest_seq() -> None:
    session, replay = resumed(40)
    [send] = session.replay_done(replay.generation, 40)

    assert isinstance(send, Send) and json.loads(send.frame) == {
        "type": "caught_up",
        "last_seq": 40,
    }


def test_live_events_wait_for_the_replay_and_the_seam_has_no_duplicate_and_no_gap() -> None:
    session, replay = resumed(40)

    assert session.event(46, thinking(), previous=45) == []  # held: the replay is not done
    assert session.event(47, thinking(), previous=46) == []
    got = seen(session.replayed(replay.generation, page(41, 45, 46)))  # 46 is also stored
    got += seen(session.replay_done(replay.generation, 46))

    assert got == [41, 45, 46, 47, "caught_up"]


def test_a_resume_point_past_the_end_of_the_log_starts_over_at_the_users_newest() -> None:
    session, replay = resumed(5000)  # the stream was reset: its last seq is far below 5000
    session.event(12, thinking(), previous=9)

    got = seen(session.replay_done(replay.generation, 9, beyond=True))

    assert got == [12, "caught_up"]  # 12 < 5000, and still delivered
    assert seen(session.event(13, thinking(), previous=12)) == [13]


def test_pages_of_an_older_replay_are_ignored_after_a_new_resume() -> None:
    session, old = resumed(40)
    session, new = resumed(50, session)

    assert session.replayed(old.generation, page(41)) == []
    assert session.replay_done(old.generation, 41) == []
    assert seen(session.replayed(new.generation, page(51))) == [51]


def test_a_resume_frame_on_an_open_socket_sends_the_events_again_from_its_seq() -> None:
    session = Session(USER)
    for seq in (41, 42, 43):
        session.event(seq, thinking(), previous=seq - 1)

    replay = replay_of(session.receive('{"type": "resume", "after_seq": 41}'))
    got = seen(session.replayed(replay.generation, page(42, 43)))

    assert (replay.after_seq, got) == (41, [42, 43])


def test_a_resume_gap_frame_goes_before_the_replayed_events() -> None:
    session, replay = resumed(40)

    got = seen(session.replay_gap(replay.generation, 40, 70))
    got += seen(session.replayed(replay.generation, page(70, 71)))
    got += seen(session.replay_done(replay.generation, 71))

    assert got == ["resume_gap", 70, 71, "caught_up"]


def test_replayed_events_and_caught_up_wait_for_run_accepted() -> None:
    session = Session(USER)
    session.receive('{"type": "message", "content": "go"}')
    _, replay = resumed(40, session)

    assert session.replayed(replay.generation, page(41)) == []
    assert session.replay_done(replay.generation, 41) == []
    got = seen(session.submit_done(RunStarted(run_id="r", thread_id="t"), None))

    assert got == ["run_accepted", 41, "caught_up"]


def test_no_replay_page_is_read_while_a_submission_is_outstanding() -> None:
    session, _ = resumed(40)
    session.receive('{"type": "message", "content": "go"}')

    assert session.page_budget() is None
    session.submit_done(RunStarted(run_id="r", thread_id="t"), None)
    assert session.page_budget() is not None


def test_a_replay_the_stream_cannot_serve_closes_with_1011_to_resume_later() -> None:
    session, replay = resumed(40)

    [close] = session.replay_failed(replay.generation)

    assert isinstance(close, Close) and close.code == CloseCode.INTERNAL_ERROR
    assert session.state is State.CLOSING


# Live gaps: repaired from the stream, reported only when the stream lost them too


def live_socket(position: int) -> Session:
    session = Session(USER)
    session.baseline(position)
    return session


def test_an_event_whose_previous_is_missing_starts_a_repair_and_waits_for_it() -> None:
    session = live_socket(10)

    replay = replay_of(session.event(14, thinking(), previous=12))
    got = seen(session.replayed(replay.generation, page(12, 14)))
    got += seen(session.replay_done(replay.generation, 14))

    assert (replay.after_seq, replay.check_gap) == (10, False)
    assert got == [12, 14]  # in order, no duplicate 14, and no caught_up: nobody asked


def test_an_event_following_the_last_one_goes_straight_out() -> None:
    session = live_socket(10)

    assert seen(session.event(14, thinking(), previous=10)) == [14]
    assert seen(session.event(15, thinking(), previous=14)) == [15]


def test_a_fresh_socket_without_a_position_takes_the_first_event_as_it_comes() -> None:
    session = Session(USER)

    assert seen(session.event(14, thinking(), previous=12)) == [14]
    assert session.repair() != []  # and from then on it knows where it is


def test_a_gap_still_there_after_the_repair_is_read_once_more_then_reported() -> None:
    session = live_socket(10)
    first = replay_of(session.event(14, thinking(), previous=12))

    retry = replay_of(session.replay_done(first.generation, 10))  # 12 was not in the stream
    got = seen(session.replay_done(retry.generation, 10))  # nor the second time

    assert retry.after_seq == 10
    assert got == ["resume_gap", 14]
    assert seen(session.event(15, thinking(), previous=14)) == [15]


def test_reconnect_repair_reads_from_the_sockets_position() -> None:
    session = live_socket(10)
    session.event(11, thinking(), previous=10)

    replay = replay_of(session.repair())
    got = seen(session.replayed(replay.generation, page(12, 13)))

    assert replay.after_seq == 11 and got == [12, 13]


def test_a_reconnect_during_a_replay_reads_once_more_before_releasing() -> None:
    session, first = resumed(40)
    session.event(50, thinking(), previous=45)
    assert session.repair() == []  # noted; the replay in progress goes on

    again = replay_of(session.replay_done(first.generation, 40))
    got = seen(session.replayed(again.generation, page(45, 50)))
    got += seen(session.replay_done(again.generation, 50))

    assert again.after_seq == 40
    assert got == [45, 50, "caught_up"]


# Bounds


def test_live_events_held_during_a_replay_count_against_the_bound() -> None:
    session, _ = resumed(40, Session(USER, Limits(max_queued_frames=2)))
    session.event(41, thinking(), previous=40)
    session.event(42, thinking(), previous=41)

    [command] = session.event(43, thinking(), previous=42)

    assert isinstance(command, Close) and command.code == CloseCode.SLOW_CONSUMER


def test_a_replay_page_waits_until_the_socket_has_written_half_its_backlog() -> None:
    session = Session(USER, Limits(max_queued_frames=8))
    frames = [c for seq in range(1, 6) for c in session.event(seq, thinking(), previous=seq - 1)]

    assert session.page_budget() is None  # 5 of 8 not written yet
    session.sent(len(frames[0].frame))  # type: ignore[union-attr]
    assert session.page_budget() == (2, session.page_budget()[1])  # type: ignore[index]
