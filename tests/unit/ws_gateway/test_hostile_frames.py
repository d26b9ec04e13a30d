"""Property-based fuzzing of every client frame type against the sans-I/O session.

Whatever a client sends (malformed JSON, wrong types, huge or deeply nested payloads, unicode
edge cases, subject-injection attempts in every id), the session answers with an error frame or
a valid command, never raises, and stays OPEN. Ids that would reach a NATS subject only ever
leave the session as safe subject tokens.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ws_gateway.guard import RateLimits
from services.ws_gateway.session import (
    Authenticate,
    Command,
    Replay,
    Request,
    Send,
    Session,
    State,
    Submit,
)
from shared.subjects import is_safe_token

USER = "user-1"
FRAME_TYPES = ["message", "ping", "resume", "cancel", "list_threads", "list_runs", "auth"]
ID_FIELDS = ["thread_id", "client_msg_id", "run_id"]
# Subject injection and its neighbours: wildcards, separators, whitespace, empty, long, unicode.
HOSTILE_IDS = st.sampled_from(
    ["", ".", "*", ">", "a.b", "a.*", "a.>", "a b", " ", "\t", "\n", "\x00", "a" * 65, "ü", "🙂",
     "\u202e", "\ud800x", "user-2.events", "*.events", "../x", "a\r\nPUB x"]
)  # fmt: skip
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELD_VALUES = JSON_VALUES | HOSTILE_IDS | st.integers(min_value=-(2**70), max_value=2**70)


def new_session() -> Session:
    # A rate high enough that fuzzing exercises the frames, not the limiter.
    return Session(USER, rate=RateLimits(messages_per_second=1e9, burst=10**9))


def check(session: Session, commands: list[Command]) -> None:
    assert session.state is State.OPEN
    for command in commands:
        match command:
            case Send(frame=frame):
                assert isinstance(json.loads(frame), dict)
            case Submit(request=request):
                assert request.user_id == USER
                for value in (request.thread_id, request.client_msg_id):
                    assert value is None or is_safe_token(value)
            case Request(message=message):
                assert message.user_id == USER
                for name in ("run_id", "thread_id"):
                    value = getattr(message, name, None)
                    assert value is None or is_safe_token(value)
            case Replay() | Authenticate():
                pass
            case _:
                raise AssertionError(f"unexpected command {command!r}")


FRAMES = st.fixed_dictionaries(
    {"type": st.sampled_from(FRAME_TYPES) | st.text(max_size=20) | JSON_VALUES},
    optional={
        "content": FIELD_VALUES,
        "after_seq": FIELD_VALUES,
        "token": FIELD_VALUES,
        "user_id": st.just("user-2"),
        **{name: FIELD_VALUES for name in ID_FIELDS},
    },
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(frame=FRAMES)
def test_any_frame_shaped_object_gets_an_error_or_a_valid_command(frame: dict) -> None:
    session = new_session()
    check(session, session.receive(json.dumps(frame)))


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_and_text_never_raise(raw: bytes | str) -> None:
    session = new_session()
    check(session, session.receive(raw))


@settings(max_examples=50, deadline=None)
@given(kind=st.sampled_from(FRAME_TYPES), depth=st.integers(min_value=100, max_value=5000))
def test_deeply_nested_payloads_are_refused_cleanly(kind: str, depth: int) -> None:
    session = new_session()
    nested = "[" * depth + "]" * depth
    raw = f'{{"type": "{kind}", "content": {nested}, "thread_id": {nested}}}'
    check(session, session.receive(raw))


@settings(max_examples=20, deadline=None)
@given(kind=st.sampled_from(FRAME_TYPES), size=st.integers(min_value=65_537, max_value=400_000))
def test_huge_frames_get_frame_too_large(kind: str, size: int) -> None:
    session = new_session()
    commands = session.receive(json.dumps({"type": kind, "content": "x" * size}))
    check(session, commands)
    [send] = commands
    assert isinstance(send, Send) and json.loads(send.frame)["data"]["code"] == "frame_too_large"


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(["message", "cancel", "list_runs"]), bad=HOSTILE_IDS)
def test_subject_injection_in_any_id_is_invalid_id_and_nothing_is_asked(
    kind: str, bad: str
) -> None:
    session = new_session()
    frame = {"type": kind, "content": "hi", "thread_id": bad, "run_id": bad, "client_msg_id": bad}
    [send] = session.receive(json.dumps(frame))
    assert isinstance(send, Send)
    # invalid_json: a lone surrogate is not valid UTF-8, so the frame is not JSON at all.
    assert json.loads(send.frame)["data"]["code"] in ("invalid_id", "invalid_frame", "invalid_json")
    assert session.state is State.OPEN


def test_the_session_still_works_after_a_barrage() -> None:
    session = new_session()
    for raw in ["{", "[]", "null", '{"type": 5}', '{"type": "cancel", "run_id": "a.>"}', "\xff"]:
        session.receive(raw)
    [pong] = session.receive('{"type": "ping"}')
    assert isinstance(pong, Send) and json.loads(pong.frame) == {"type": "pong"}
