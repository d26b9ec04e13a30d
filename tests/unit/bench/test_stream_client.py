import math

import pytest

from bench.stream.client import StreamSocket, StreamTally, decode_frames
from bench.stream.stamps import stamp_token
from shared.wire.events import (
    AgentCompleted,
    AgentCompletedData,
    AnyEvent,
    MessageDelta,
    MessageDeltaData,
    MessageStarted,
    MessageStartedData,
    encode_event,
)

IDS = {"run_id": "r1", "thread_id": "t1"}


def frame(seq: int, event: AnyEvent) -> bytes:
    """The event as the gateway sends it: ``"seq":N`` spliced in first."""
    return b'{"seq":%d,' % seq + encode_event(event)[1:]


def delta(text: str, flushed_at: float = 0.0) -> MessageDelta:
    data = MessageDeltaData(message_id="m1", delta=text, timestamp=flushed_at)
    return MessageDelta(**IDS, data=data)


def completed(result: str) -> AgentCompleted:
    data = AgentCompletedData(agent_id="a", result=result, message_id="m1")
    return AgentCompleted(**IDS, data=data)


def feed(sock: StreamSocket, payload: bytes) -> None:
    buf = bytearray(b"junk" + payload)  # frames are read in place, from an offset
    sock.message(buf, 4, len(buf))


def measuring_tally(now: float) -> StreamTally:
    tally = StreamTally()
    tally.set_windows((0.0, math.inf), (0.0, math.inf))
    tally.now = now
    return tally


async def test_each_stamped_token_is_timed_from_its_hand_over_to_receipt():
    tally = measuring_tally(now=100.5)
    sock = StreamSocket(tally, 1, "token")
    data = MessageStartedData(message_id="m1", kind="answer", agent_id="a")
    started = MessageStarted(**IDS, data=data)
    feed(sock, frame(1, started))
    feed(sock, frame(2, delta(stamp_token(100.4) + stamp_token(100.45), flushed_at=100.48)))
    hist = tally.histogram()
    assert tally.tokens == 2 and tally.tokens_rx_window == 2
    assert hist.n == 2
    assert hist.percentile(100) == pytest.approx(0.1, rel=0.01)
    assert hist.total_s == pytest.approx(0.1 + 0.05)
    assert tally.lat_max_s == pytest.approx(0.1)
    assert tally.flush_hist.n == 1
    assert tally.flush_hist.percentile(50) == pytest.approx(0.02, rel=0.01)
    assert tally.coalesce_hist.n == 2  # 100.4 -> 100.48 and 100.45 -> 100.48
    assert tally.coalesce_hist.percentile(100) == pytest.approx(0.08, rel=0.01)
    assert tally.types == {"message_started": 1, "message_delta": 1}


async def test_deltas_joined_are_checked_against_the_completing_event():
    tally = measuring_tally(now=10.0)
    good, bad = StreamSocket(tally, 1, "token"), StreamSocket(tally, 1, "token")
    text = stamp_token(9.9) + stamp_token(9.95)
    for sock, result in ((good, text), (bad, text + "lost")):
        feed(sock, frame(1, delta(stamp_token(9.9))))
        feed(sock, frame(2, delta(stamp_token(9.95))))
        feed(sock, frame(3, completed(result)))
    assert (tally.completed, tally.matched, tally.mismatched) == (2, 1, 1)
    assert good.results == [text]


async def test_a_seq_that_does_not_rise_is_counted_out_of_order():
    tally = measuring_tally(now=10.0)
    sock = StreamSocket(tally, 1, "token")
    for seq in (5, 7, 7, 6):
        feed(sock, frame(seq, delta("x ")))
    assert tally.out_of_order == 2


async def test_a_resume_counts_the_bytes_of_every_frame_up_to_caught_up():
    tally = StreamTally()
    sock = StreamSocket(tally, 1, "token", after_seq=3, record=True)
    answer = "The gateway spends most of its time"
    frames = [frame(9, completed(answer)), b'{"type":"caught_up","last_seq":9}']
    for payload in frames:
        feed(sock, payload)
    feed(sock, frame(10, delta("later ")))  # live, after the replay: not the resume's
    assert sock.bytes_at_caught_up == sum(len(f) for f in frames)
    assert sock.caught_up_at is not None
    assert [kind for kind, _ in sock.frames] == ["agent_completed", "caught_up"]
    assert sock.results == [answer]


def test_a_batched_message_and_a_snapshot_are_decoded_into_their_events():
    batch = b"[" + frame(1, delta("a ")) + b"," + frame(2, delta("b ")) + b"]"
    assert [f.seq for f in decode_frames(batch)] == [1, 2]
    snapshot = b'{"type":"run_snapshot","upto_seq":2,"events":[' + frame(2, delta("b ")) + b"]}"
    (snap,) = decode_frames(memoryview(snapshot))
    assert snap.events is not None and snap.events[0].data is not None
    assert snap.events[0].data.delta == "b "
