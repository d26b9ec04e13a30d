from bench.publisher import event_payload, pick_round_robin
from shared.wire.events import AgentThinking, decode_event


def test_bench_events_are_valid_agent_events_of_about_200_bytes():
    payload = event_payload(1_700_000_000.25, step=3)
    event = decode_event(payload)
    assert isinstance(event, AgentThinking)
    assert event.data.timestamp == 1_700_000_000.25
    assert event.seq == 0 and b'"seq"' not in payload  # the gateway splices it in
    assert 180 <= len(payload) <= 240


def test_round_robin_continues_where_it_stopped_and_wraps_around():
    users = [b"a", b"b", b"c"]
    assert pick_round_robin(users, 1, 2) == [b"b", b"c"]
    assert pick_round_robin(users, 2, 7) == [b"c", b"a", b"b", b"c", b"a", b"b", b"c"]
    assert pick_round_robin(users, 0, 0) == []
