"""A session with and without ``deltas=1``: hidden stream events, snapshots, run_events."""

from __future__ import annotations

import json

from services.ws_gateway.session import LoadRun, Replay, Send, Session
from shared.wire import events as ev
from shared.wire.runs import RunStarted
from tests.unit.ws_gateway.test_compaction import agent_started, delta, started, thought

USER = "user-1"


def sent(commands: list[object]) -> list[dict[str, object]]:
    return [json.loads(c.frame) for c in commands if isinstance(c, Send)]


def opened(after_seq: str | None = None, deltas: str | None = None) -> tuple[Session, list]:
    session = Session(USER)
    return session, session.open(after_seq, deltas)


def test_a_socket_without_deltas_gets_no_stream_events_and_sees_no_gap() -> None:
    session, _ = opened()
    session.baseline(0)
    out = session.event(1, agent_started(), 0)
    out += session.event(2, started("t"), 1)
    out += session.event(3, delta("t", "hi"), 2)
    out += session.event(4, thought("t", "hi"), 3)  # previous=3: a hidden event, not a gap
    assert [(f["seq"], f["type"]) for f in sent(out)] == [
        (1, "agent_started"),
        (4, "agent_thinking"),
    ]
    assert not session.replaying


def test_a_deltas_socket_gets_every_stream_event_live() -> None:
    session, opening = opened(deltas="1")
    [replay] = opening
    assert isinstance(replay, Replay) and replay.snapshot
    session.snapshot_done(replay.generation, [], 0)
    out = session.event(1, started("t"), 0) + session.event(2, delta("t", "hi"), 1)
    assert [f["type"] for f in sent(out)] == ["message_started", "message_delta"]


def test_replayed_stream_events_are_hidden_from_a_socket_without_deltas() -> None:
    session, opening = opened(after_seq="0")
    [replay] = opening
    assert isinstance(replay, Replay) and not replay.compact
    page = [(1, agent_started()), (2, started("t")), (3, delta("t", "x")), (4, thought("t", "x"))]
    out = session.replayed(replay.generation, page)
    out += session.replay_done(replay.generation, 4)
    assert [f["type"] for f in sent(out)] == ["agent_started", "agent_thinking", "caught_up"]
    assert sent(out)[-1]["last_seq"] == 4


def test_a_deltas_resume_is_compacted_and_left_out_events_are_no_gap() -> None:
    session, opening = opened(after_seq="0", deltas="1")
    [replay] = opening
    assert isinstance(replay, Replay) and replay.compact
    out = session.replayed(replay.generation, [(1, agent_started()), (2, None), (3, None)])
    out += session.replay_done(replay.generation, 3)
    out += session.event(4, delta("t", "y"), 3)
    assert [(f.get("seq"), f["type"]) for f in sent(out)] == [
        (1, "agent_started"),
        (None, "caught_up"),
        (4, "message_delta"),
    ]


def test_a_snapshot_goes_first_and_live_events_held_meanwhile_follow_once() -> None:
    session, opening = opened(deltas="1")
    [replay] = opening
    held = session.event(7, delta("a", "old"), 6) + session.event(9, delta("a", "new"), 7)
    assert held == []  # held until the snapshot is out
    snapshot = b'{"type":"run_snapshot","run_id":"r","thread_id":"t","upto_seq":7,"events":[]}'
    out = session.snapshot_done(replay.generation, [snapshot], 7)
    assert [(f["type"], f.get("seq")) for f in sent(out)] == [
        ("run_snapshot", None),
        ("caught_up", None),
        ("message_delta", 9),
    ]
    assert session.last_seq == 9


def test_a_snapshot_with_no_run_under_way_still_sets_the_resume_point() -> None:
    session, opening = opened(deltas="1")
    [replay] = opening
    assert sent(session.snapshot_done(replay.generation, [], 42)) == [
        {"type": "caught_up", "last_seq": 42}
    ]
    session.receive(b'{"type":"message","content":"hi"}')
    [accepted] = sent(session.submit_done(RunStarted(run_id="r", thread_id="t"), None))
    assert accepted["last_seq"] == 42


def test_a_bad_deltas_value_is_an_error_and_a_socket_without_deltas() -> None:
    session, opening = opened(deltas="yes")
    [error] = sent(opening)
    assert error["type"] == "error" and error["data"]["code"] == "invalid_frame"  # type: ignore[index]
    assert not session.deltas


def test_run_events_asks_for_one_run_and_checks_the_range() -> None:
    session, _ = opened()
    frame = b'{"type":"run_events","run_id":"r1","after_seq":10,"upto_seq":20}'
    assert session.receive(frame) == [LoadRun("r1", 10, 20)]
    bad = b'{"type":"run_events","run_id":"r.*","after_seq":10,"upto_seq":20}'
    [error] = sent(session.receive(bad))
    assert error["data"]["code"] == "invalid_id"  # type: ignore[index]


def test_the_snapshot_of_a_run_is_sent_as_the_answer_to_run_events() -> None:
    session, _ = opened()
    frame = b'{"type":"run_snapshot","run_id":"r1","thread_id":"t","upto_seq":20,"events":[]}'
    assert sent(session.run_loaded(frame)) == [json.loads(frame)]


def test_message_ids_on_completing_events_reach_old_sockets_unchanged() -> None:
    session, _ = opened()
    session.baseline(0)
    data = ev.AgentCompletedData(agent_id="a", result="done", message_id="r.answer")
    payload = ev.encode_event(ev.AgentCompleted(run_id="r", thread_id="t", data=data))
    [frame] = sent(session.event(1, payload, 0))
    assert frame["data"]["result"] == "done"  # type: ignore[index]
