"""The client's rules without a socket: close codes, backoff, dedupe by seq, reply matching."""

from __future__ import annotations

import pytest

import agentwire_client.protocol as client_protocol
from agentwire_client.protocol import (
    AfterClose,
    PendingRequest,
    Requests,
    SeqTracker,
    after_close,
    backoff_delay,
)
from services.ws_gateway import auth as gateway_auth
from shared.wire import events


def event(seq: int, kind: str = "agent_thinking") -> dict[str, object]:
    return {"seq": seq, "type": kind, "run_id": "r1", "thread_id": "t1", "data": {}}


@pytest.mark.parametrize(
    ("code", "action"),
    [
        (4401, AfterClose.UNAUTHORIZED),
        (4403, AfterClose.REVOKED),
        (4400, AfterClose.STOP),
        (4499, AfterClose.STOP),
        (1008, AfterClose.STOP),
        (4000, AfterClose.RECONNECT_NOW),
        (4008, AfterClose.RECONNECT),
        (1001, AfterClose.RECONNECT),
        (1006, AfterClose.RECONNECT),
        (1011, AfterClose.RECONNECT),
        (None, AfterClose.RECONNECT),
    ],
)
def test_close_codes_follow_the_protocol_table(code: int | None, action: AfterClose) -> None:
    assert after_close(code) is action


def test_backoff_doubles_up_to_the_cap_and_jitters_within_half_of_it() -> None:
    assert backoff_delay(0, 0.5, 15, rand=lambda: 0.0) == 0.25
    assert backoff_delay(0, 0.5, 15, rand=lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 15, rand=lambda: 1.0) == 4.0
    assert backoff_delay(30, 0.5, 15, rand=lambda: 1.0) == 15
    assert 7.5 <= backoff_delay(30, 0.5, 15) <= 15


def test_tracker_drops_events_at_or_below_the_last_seq() -> None:
    tracker = SeqTracker()
    assert [tracker.accept(event(s)) for s in (3, 4, 4, 2, 7)] == [True, True, False, False, True]
    assert tracker.last_seq == 7
    assert tracker.duplicates == 2


def test_tracker_lets_control_frames_through_untouched() -> None:
    tracker = SeqTracker(after_seq=10)
    assert tracker.accept({"type": "run_accepted", "run_id": "r", "thread_id": "t"})
    assert tracker.accept({"type": "pong"})
    assert tracker.last_seq == 10


def test_a_heartbeat_gives_a_baseline_only_when_no_event_came_yet() -> None:
    tracker = SeqTracker()
    tracker.accept({"type": "heartbeat", "last_seq": 41})
    assert tracker.last_seq == 41
    tracker.accept({"type": "heartbeat", "last_seq": 99})
    assert tracker.last_seq == 41, "a later heartbeat must not skip events still in flight"


def test_run_accepted_gives_a_resume_position_only_when_the_client_has_none() -> None:
    fresh, placed = SeqTracker(), SeqTracker(after_seq=50)
    accepted = {"type": "run_accepted", "run_id": "r", "thread_id": "t", "last_seq": 41}

    fresh.accept(accepted)
    placed.accept(accepted)

    assert fresh.last_seq == 41  # a queued run's first event may be long in coming
    assert placed.last_seq == 50
    assert fresh.url("ws://gw/ws").endswith("after_seq=41")


def test_caught_up_moves_the_resume_position_forward_only() -> None:
    tracker = SeqTracker(after_seq=5)
    tracker.accept({"type": "caught_up", "last_seq": 9})
    tracker.accept({"type": "caught_up", "last_seq": 3})
    assert tracker.last_seq == 9


def test_resume_url_carries_after_seq_once_there_is_a_position() -> None:
    tracker = SeqTracker()
    assert tracker.url("ws://h/ws") == "ws://h/ws"
    tracker.accept(event(12))
    assert tracker.url("ws://h/ws") == "ws://h/ws?after_seq=12"
    assert tracker.url("ws://h/ws?x=1&after_seq=3") == "ws://h/ws?x=1&after_seq=12"


def test_replies_answer_the_request_with_their_key() -> None:
    requests = Requests()
    first = PendingRequest({"type": "message"}, "run_accepted", "m1")
    second = PendingRequest({"type": "message"}, "run_accepted", "m2")
    cancel = PendingRequest({"type": "cancel"}, "cancel_accepted", "r9")
    for request in (first, second, cancel):
        requests.add(request)
    assert requests.match({"type": "run_accepted", "client_msg_id": "m2"}) is second
    assert requests.match({"type": "cancel_accepted", "run_id": "r9"}) is cancel
    assert requests.match({"type": "cancel_accepted", "run_id": "r9"}) is None
    assert requests.pending == [first]


def test_an_error_frame_answers_the_oldest_request() -> None:
    requests = Requests()
    old = PendingRequest({"type": "list_runs"}, "runs", "t1")
    new = PendingRequest({"type": "list_threads"}, "threads", None)
    requests.add(old)
    requests.add(new)
    assert requests.match({"type": "error", "data": {"code": "thread_not_found"}}) is old
    assert requests.match({"type": "threads", "threads": []}) is new
    assert requests.match({"type": "error", "data": {}}) is None


def test_an_error_only_a_message_gets_answers_the_oldest_message_not_an_older_list() -> None:
    """Replies overtake each other: a list sent first may still wait for an agent when the
    message sent after it is refused as not stored."""
    requests = Requests()
    listing = PendingRequest({"type": "list_runs"}, "runs", "t1")
    message = PendingRequest({"type": "message"}, "run_accepted", "m1")
    cancel = PendingRequest({"type": "cancel"}, "cancel_accepted", "r1")
    for request in (listing, message, cancel):
        requests.add(request)
    assert requests.match({"type": "error", "data": {"code": "intake_unavailable"}}) is message
    assert requests.match({"type": "error", "data": {"code": "run_not_found"}}) is cancel
    assert requests.match({"type": "error", "data": {"code": "no_agent_available"}}) is listing
    assert requests.pending == []


def test_an_error_no_pending_request_of_its_kind_expects_answers_the_oldest() -> None:
    requests = Requests()
    message = PendingRequest({"type": "message"}, "run_accepted", "m1")
    requests.add(message)  # an older gateway still refused a message with thread_not_found
    assert requests.match({"type": "error", "data": {"code": "thread_not_found"}}) is message


def test_the_clients_event_and_subprotocol_names_are_the_servers() -> None:
    """The client keeps its own copies (it imports nothing of the server); they must not drift."""
    assert client_protocol.EVENT_TYPES == events.EVENT_TYPES
    assert client_protocol.TERMINAL_TYPES == events.TERMINAL_TYPES
    assert client_protocol.SUBPROTOCOL == gateway_auth.SUBPROTOCOL
