"""The gateway's per-connection logic, without a socket, a loop or NATS."""

from __future__ import annotations

import json

import pytest

from services.ws_gateway.session import (
    NO_AGENT_MESSAGE,
    Close,
    Command,
    Limits,
    Replay,
    Request,
    RequestKind,
    Send,
    Session,
    State,
    Submit,
    with_seq,
)
from shared.errors import CloseCode, ErrorCode
from shared.wire import events
from shared.wire.runs import (
    CancelAccepted,
    CancelRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunInfo,
    RunList,
    RunRejected,
    RunStarted,
    ThreadInfo,
    ThreadList,
)

USER = "user-1"


def frames(commands: list[Command]) -> list[dict[str, object]]:
    """What the client would read, decoded."""
    assert all(isinstance(c, Send) for c in commands), commands
    return [json.loads(c.frame) for c in commands if isinstance(c, Send)]


def only_frame(commands: list[Command]) -> dict[str, object]:
    [frame] = frames(commands)
    return frame


def error_code(commands: list[Command]) -> str:
    frame = only_frame(commands)
    assert frame["type"] == "error"
    return frame["data"]["code"]  # type: ignore[index]


def bus_event(thought: str = "thinking", run_id: str = "run-1") -> bytes:
    return events.encode_event(
        events.AgentThinking(
            run_id=run_id,
            thread_id="thread-1",
            data=events.AgentThinkingData(agent_id="agent-1", thought=thought, timestamp=1.5),
        )
    )


def message(content: str = "hello", **extra: object) -> str:
    return json.dumps({"type": "message", "content": content, **extra})


PING = '{"type": "ping"}'


# Bad frames: each kind gets its code, and the socket goes on working


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json at all", ErrorCode.INVALID_JSON),
        (b"\xff\xfe", ErrorCode.INVALID_JSON),
        ("[1, 2]", ErrorCode.INVALID_FRAME),
        ('"a string"', ErrorCode.INVALID_FRAME),
        ("{}", ErrorCode.INVALID_FRAME),
        ('{"type": 5}', ErrorCode.INVALID_FRAME),
        ('{"type": "subscribe"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "message"}', ErrorCode.INVALID_FRAME),
        ('{"type": "message", "content": 7}', ErrorCode.INVALID_FRAME),
        (message(""), ErrorCode.INVALID_FRAME),
        (message(thread_id="a>b"), ErrorCode.INVALID_ID),
        (message(thread_id="t.*"), ErrorCode.INVALID_ID),
        (message(client_msg_id="m 1"), ErrorCode.INVALID_ID),
        (message(client_msg_id=12), ErrorCode.INVALID_ID),
    ],
)
def test_bad_frame_gets_its_error_code_and_the_next_frame_still_works(
    frame: str | bytes, code: ErrorCode
) -> None:
    session = Session(USER)

    assert error_code(session.receive(frame)) == code
    assert only_frame(session.receive(PING)) == {"type": "pong"}
    assert session.state is State.OPEN


def test_frame_over_the_size_limit_is_refused_but_the_socket_stays_open() -> None:
    session = Session(USER, Limits(max_frame_bytes=100))

    commands = session.receive(message("x" * 200))

    assert error_code(commands) == ErrorCode.FRAME_TOO_LARGE
    assert isinstance(session.receive(message("short"))[0], Submit)


def test_size_limit_counts_bytes_not_characters() -> None:
    session = Session(USER, Limits(max_frame_bytes=100))

    assert error_code(session.receive(message("é" * 45))) == ErrorCode.FRAME_TOO_LARGE


def test_error_message_is_msgspecs_own_and_names_the_field() -> None:
    frame = only_frame(Session(USER).receive(message("")))

    assert frame["data"]["message"] == "Expected `str` of length >= 1 - at `$.content`"  # type: ignore[index]


def test_unknown_type_error_says_which_types_exist() -> None:
    frame = only_frame(Session(USER).receive('{"type": "subscribe"}'))

    assert "'subscribe'" in frame["data"]["message"]  # type: ignore[index]
    assert "message, ping" in frame["data"]["message"]  # type: ignore[index]


def test_ping_gets_pong_as_text_or_binary() -> None:
    session = Session(USER)

    assert only_frame(session.receive(PING)) == {"type": "pong"}
    assert only_frame(session.receive(PING.encode())) == {"type": "pong"}


# Messages become runs


def test_message_becomes_a_submit_for_the_tokens_user_not_the_frames() -> None:
    session = Session(USER)

    [command] = session.receive(
        message("go", thread_id="t-1", client_msg_id="m-1", user_id="someone-else")
    )

    assert isinstance(command, Submit)
    assert command.request.user_id == USER
    assert (command.request.content, command.request.thread_id) == ("go", "t-1")
    assert command.request.client_msg_id == "m-1"


def test_run_started_answers_with_run_accepted() -> None:
    session = Session(USER)
    session.receive(message(client_msg_id="m-1"))

    accepted = RunStarted(run_id="r-1", thread_id="t-1", state="queued", ahead=3)
    frame = only_frame(session.submit_done(accepted, "m-1"))

    assert frame == {
        "type": "run_accepted",
        "run_id": "r-1",
        "thread_id": "t-1",
        "client_msg_id": "m-1",
        "state": "queued",
        "ahead": 3,
    }


def test_run_accepted_gives_a_socket_with_no_event_yet_a_place_to_resume_from() -> None:
    # A queued run may wait long for its first event: a client that drops meanwhile must not
    # come back live-only and miss it.
    session = Session(USER)
    session.baseline(41)  # the user's newest event when the socket joined
    accepted = RunStarted(run_id="r-1", thread_id="t-1", state="queued", ahead=3)

    session.receive(message())
    first = only_frame(session.submit_done(accepted, None))
    session.event(42, bus_event())
    session.receive(message())
    second = only_frame(session.submit_done(accepted, None))

    assert first["last_seq"] == 41
    assert second["last_seq"] == 42  # the last event handed out, before this answer


def test_run_accepted_holds_back_no_position_it_cannot_vouch_for() -> None:
    session = Session(USER)  # no baseline yet, nothing handed out
    session.receive(message())
    session.event(5, bus_event())  # held behind run_accepted: it comes after the answer

    commands = session.submit_done(RunStarted(run_id="r-1", thread_id="t-1"), None)

    accepted, held = frames(commands)
    assert accepted["type"] == "run_accepted" and "last_seq" not in accepted
    assert held["seq"] == 5


def test_run_rejected_answers_with_the_agents_error() -> None:
    session = Session(USER)
    session.receive(message(thread_id="t-9"))

    reply = RunRejected(code="thread_not_found", message="no thread t-9 for this user")
    frame = only_frame(session.submit_done(reply, None))

    assert frame == {
        "type": "error",
        "data": {"code": "thread_not_found", "message": "no thread t-9 for this user"},
    }


def test_no_agent_answering_gives_no_agent_available() -> None:
    session = Session(USER)
    session.receive(message())

    assert error_code(session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE)) == "no_agent_available"
    assert only_frame(session.receive(PING)) == {"type": "pong"}


def test_no_agent_message_tells_the_user_to_retry() -> None:
    session = Session(USER)
    session.receive(message())

    frame = only_frame(session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE, NO_AGENT_MESSAGE))

    assert "try again" in frame["data"]["message"]  # type: ignore[index]


# Events: ordering against run_accepted, duplicates, the seq splice


def test_events_wait_for_run_accepted_while_a_submit_is_outstanding() -> None:
    session = Session(USER)
    session.receive(message())

    assert session.event(7, bus_event("first")) == []
    assert session.event(8, bus_event("second")) == []
    released = frames(session.submit_done(RunStarted(run_id="run-1", thread_id="t"), None))

    assert [f["type"] for f in released] == ["run_accepted", "agent_thinking", "agent_thinking"]
    assert [f["seq"] for f in released[1:]] == [7, 8]
    assert session.last_seq == 8


def test_events_stay_held_until_every_outstanding_submit_is_answered() -> None:
    session = Session(USER)
    session.receive(message())
    session.receive(message())
    session.event(3, bus_event())

    first = frames(session.submit_done(RunStarted(run_id="a", thread_id="t"), None))
    second = frames(session.submit_failed(ErrorCode.NO_AGENT_AVAILABLE))

    assert [f["type"] for f in first] == ["run_accepted"]
    assert [f["type"] for f in second] == ["error", "agent_thinking"]


def test_events_flow_straight_through_without_a_submit() -> None:
    session = Session(USER)

    frame = only_frame(session.event(1, bus_event()))

    assert (frame["type"], frame["seq"]) == ("agent_thinking", 1)


def test_duplicate_and_older_events_are_dropped() -> None:
    session = Session(USER)
    session.event(5, bus_event("five"))

    assert session.event(5, bus_event("five again")) == []
    assert session.event(4, bus_event("four, late")) == []
    assert only_frame(session.event(6, bus_event("six")))["seq"] == 6
    assert session.last_seq == 6


def test_duplicates_of_held_events_are_dropped_too() -> None:
    session = Session(USER)
    session.receive(message())
    session.event(2, bus_event())
    session.event(2, bus_event())

    released = frames(session.submit_done(RunStarted(run_id="r", thread_id="t"), None))

    assert [f.get("seq") for f in released] == [None, 2]


def test_seq_splice_is_an_event_the_shared_decoder_reads_with_that_seq() -> None:
    [send] = Session(USER).event(123456, bus_event("spliced"))

    assert isinstance(send, Send)
    event = events.decode_event(send.frame)
    assert isinstance(event, events.AgentThinking)
    assert (event.seq, event.data.thought, event.run_id) == (123456, "spliced", "run-1")


def test_seq_splice_keeps_fields_this_gateway_does_not_know() -> None:
    frame = json.loads(with_seq(3, b'{"type":"agent_thinking","future_field":[1,2]}'))

    assert frame == {"seq": 3, "type": "agent_thinking", "future_field": [1, 2]}
    assert json.loads(with_seq(4, b"{}")) == {"seq": 4}


# Slow clients: a bounded backlog


def test_backlog_over_its_frame_limit_closes_with_slow_consumer() -> None:
    session = Session(USER, Limits(max_queued_frames=3))
    for seq in (1, 2, 3):
        assert isinstance(session.event(seq, bus_event())[0], Send)

    commands = session.event(4, bus_event())

    assert commands == [Close(CloseCode.SLOW_CONSUMER, commands[0].reason)]  # type: ignore[union-attr]
    assert session.state is State.CLOSING
    assert session.last_seq == 3  # what the client was given; it resumes after it


def test_backlog_over_its_byte_limit_closes_with_slow_consumer() -> None:
    payload = bus_event("x" * 500)
    session = Session(USER, Limits(max_queued_bytes=2 * len(payload) + 50))
    session.event(1, payload)
    session.event(2, payload)

    [command] = session.event(3, payload)

    assert isinstance(command, Close) and command.code == CloseCode.SLOW_CONSUMER


def test_a_client_that_keeps_reading_never_hits_the_bound() -> None:
    session = Session(USER, Limits(max_queued_frames=2))
    for seq in range(1, 100):
        [send] = session.event(seq, bus_event())
        assert isinstance(send, Send)
        session.sent(len(send.frame))

    assert (session.queued_frames, session.queued_bytes) == (0, 0)


def test_held_events_count_against_the_bound() -> None:
    session = Session(USER, Limits(max_queued_frames=2))
    session.receive(message())
    session.event(1, bus_event())
    session.event(2, bus_event())

    [command] = session.event(3, bus_event())

    assert isinstance(command, Close) and command.code == CloseCode.SLOW_CONSUMER


# Lifecycle


def test_close_hands_out_one_close_and_then_ignores_everything() -> None:
    session = Session(USER)

    assert session.close(CloseCode.SERVER_RESTART, "restart") == [
        Close(CloseCode.SERVER_RESTART, "restart")
    ]
    assert session.close(CloseCode.SERVER_RESTART, "again") == []
    assert session.receive(PING) == []
    assert session.event(1, bus_event()) == []
    assert session.state is State.CLOSING


def test_a_closed_session_ignores_late_frames_events_and_replies() -> None:
    session = Session(USER)
    session.receive(message())
    session.closed()

    assert session.state is State.CLOSED
    assert session.receive(PING) == []
    assert session.event(1, bus_event()) == []
    assert session.submit_done(RunStarted(run_id="r", thread_id="t"), None) == []
    assert session.close(CloseCode.NORMAL, "bye") == []


# Cancel and listings become agent requests; replies become frames


def test_cancel_becomes_a_request_for_the_tokens_user() -> None:
    [command] = Session(USER).receive('{"type": "cancel", "run_id": "r-1", "user_id": "eve"}')

    assert isinstance(command, Request) and command.kind is RequestKind.CANCEL
    assert command.message == CancelRequest(user_id=USER, run_id="r-1")


def test_listings_become_requests_for_the_tokens_user() -> None:
    session = Session(USER)
    [threads] = session.receive('{"type": "list_threads"}')
    [run_list] = session.receive('{"type": "list_runs", "thread_id": "t-1"}')

    assert isinstance(threads, Request) and threads.kind is RequestKind.LIST_THREADS
    assert threads.message == ListThreadsRequest(user_id=USER)
    assert isinstance(run_list, Request) and run_list.kind is RequestKind.LIST_RUNS
    assert run_list.message == ListRunsRequest(user_id=USER, thread_id="t-1")


@pytest.mark.parametrize(
    "frame",
    ['{"type": "cancel", "run_id": "a.b"}', '{"type": "list_runs", "thread_id": "*"}'],
)
def test_an_unsafe_id_in_a_cancel_or_listing_is_refused(frame: str) -> None:
    assert error_code(Session(USER).receive(frame)) == ErrorCode.INVALID_ID


def test_replies_to_requests_become_their_frames() -> None:
    session = Session(USER)
    thread = ThreadInfo(thread_id="t-1", title="infra", created_at=1.0, updated_at=2.0)
    run = RunInfo(run_id="r-1", thread_id="t-1", status="running", content="go", created_at=1.0)

    cancelled = only_frame(session.request_done(CancelAccepted(run_id="r-1", state="cancelling")))
    threads = only_frame(session.request_done(ThreadList(threads=[thread])))
    runs = only_frame(session.request_done(RunList(thread_id="t-1", runs=[run])))

    assert cancelled == {"type": "cancel_accepted", "run_id": "r-1", "state": "cancelling"}
    assert threads["type"] == "threads" and threads["threads"][0]["title"] == "infra"  # type: ignore[index]
    assert runs["type"] == "runs" and runs["runs"][0]["status"] == "running"  # type: ignore[index]


def test_a_rejected_request_becomes_an_error_with_the_agents_code() -> None:
    reply = RunRejected(code="run_not_found", message="no run r-9 of yours")

    assert only_frame(Session(USER).request_done(reply)) == {
        "type": "error",
        "data": {"code": "run_not_found", "message": "no run r-9 of yours"},
    }


def test_a_request_no_agent_answered_becomes_no_agent_available() -> None:
    assert error_code(Session(USER).request_failed(ErrorCode.NO_AGENT_AVAILABLE)) == (
        "no_agent_available"
    )


# after_seq in the handshake


def test_no_after_seq_means_live_only() -> None:
    assert Session(USER).open(None) == []


def test_after_seq_in_the_handshake_starts_a_resume() -> None:
    [command] = Session(USER).open("42")

    assert isinstance(command, Replay) and command.after_seq == 42


@pytest.mark.parametrize("raw", ["", "-1", "4.5", "abc", "²", "1" * 20])
def test_a_malformed_after_seq_gets_an_error_and_a_live_socket(raw: str) -> None:
    session = Session(USER)

    assert error_code(session.open(raw)) == ErrorCode.INVALID_FRAME
    assert not session.replaying and session.state is State.OPEN


def test_a_resume_frame_with_a_negative_seq_is_invalid() -> None:
    assert error_code(Session(USER).receive('{"type": "resume", "after_seq": -1}')) == (
        ErrorCode.INVALID_FRAME
    )


# Heartbeats: one per tick to a socket that was sent nothing since the previous tick


def test_a_socket_that_just_opened_is_not_quiet_yet() -> None:
    assert Session(USER).heartbeat(7) == []


def test_a_quiet_socket_gets_a_heartbeat_with_the_users_newest_seq_every_tick() -> None:
    session = Session(USER)
    session.heartbeat(7)

    assert only_frame(session.heartbeat(7)) == {"type": "heartbeat", "last_seq": 7}
    assert only_frame(session.heartbeat(9)) == {"type": "heartbeat", "last_seq": 9}


def test_a_socket_sent_anything_since_the_last_tick_gets_no_heartbeat() -> None:
    session = Session(USER)
    session.heartbeat(7)
    session.event(8, bus_event())

    assert session.heartbeat(8) == []
    assert only_frame(session.heartbeat(8))["type"] == "heartbeat"


def test_the_heartbeat_seq_is_never_below_what_the_socket_was_given() -> None:
    session = Session(USER)
    session.event(30, bus_event())
    session.heartbeat(0)

    assert only_frame(session.heartbeat(20)) == {"type": "heartbeat", "last_seq": 30}


def test_no_heartbeat_while_a_replay_or_held_events_are_pending() -> None:
    replaying = Session(USER)
    replaying.resume(5)
    holding = Session(USER)
    holding.receive(message())
    holding.event(3, bus_event())

    for session in (replaying, holding):
        session.heartbeat(9)
        assert session.heartbeat(9) == []
