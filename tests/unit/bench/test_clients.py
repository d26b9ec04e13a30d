import math

import pytest

from bench.clients import AgentwireSocket, Tally

FRAME = (
    b'{"seq":%d,"type":"agent_thinking","data":{"agent_id":"a","thought":"t, {x}",'
    b'"timestamp":%s},"run_id":"r","thread_id":"t"}'
)


def feed(sock: AgentwireSocket, data: bytes) -> None:
    buf = bytearray(data)
    sock.message(buf, 0, len(buf))


def test_the_publish_timestamp_is_read_wherever_it_sits_in_the_event():
    tally = Tally()
    tally.now = 1000.5
    tally.set_windows((0.0, math.inf), (0.0, math.inf))
    for frame in (b'{"data":{"timestamp":1000.25}}', b'{"data":{"timestamp":1000.0,"x":1}}'):
        buf = bytearray(frame)
        tally.event(buf, 0, len(buf))
    hist = tally.histogram()
    assert hist.n == 2
    assert hist.percentile(100) == pytest.approx(0.5, rel=0.01)
    assert tally.rx_window == 2


def test_only_events_published_inside_the_window_count_for_latency():
    tally = Tally()
    tally.now = 20.0
    tally.set_windows((10.0, 11.0), (0.0, 0.0))
    for ts in (b"9.5", b"10.5", b"11.5"):
        buf = bytearray(b'{"timestamp":' + ts + b"}")
        tally.event(buf, 0, len(buf))
    assert tally.events == 3
    assert tally.histogram().n == 1
    assert tally.rx_window == 0


async def test_a_socket_tracks_seq_and_counts_repeats_as_stale():
    sock = AgentwireSocket(Tally(), 1, "token")
    feed(sock, FRAME % (5, b"1.0"))
    feed(sock, FRAME % (9, b"1.0"))
    feed(sock, FRAME % (9, b"1.0"))
    assert sock.last_seq == 9
    assert sock.stale == 1
    assert sock.tally.events == 3


async def test_a_batched_frame_counts_every_event_in_it():
    sock = AgentwireSocket(Tally(), 1, "token")
    batch = (
        b"["
        + b",".join(FRAME % (i, b"1.0") for i in (1, 2, 3))
        + b',{"type":"caught_up","last_seq":3}]'
    )
    feed(sock, batch)
    assert sock.tally.events == 3
    assert sock.last_seq == 3
    assert sock.caught_up_at is not None


async def test_caught_up_is_noticed_and_other_frames_are_not_events():
    sock = AgentwireSocket(Tally(), 1, "token", after_seq=4)
    feed(sock, b'{"type":"heartbeat","last_seq":4}')
    assert sock.caught_up_at is None
    feed(sock, b'{"type":"caught_up","last_seq":4}')
    assert sock.caught_up_at is not None
    assert sock.tally.events == 0
