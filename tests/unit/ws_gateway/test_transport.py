"""One socket's send queue, flow control, close and replay task, against an in-memory sink."""

from __future__ import annotations

import asyncio

from services.ws_gateway.session import Limits, Replay, Session, State
from services.ws_gateway.transport import Connection
from shared.errors import CloseCode
from tests.unit.ws_gateway.fakes import FakeBackend, MemorySocket, thinking


def serve(
    limits: Limits | None = None, backend: FakeBackend | None = None
) -> tuple[Connection, MemorySocket, FakeBackend]:
    socket, backend = MemorySocket(), backend or FakeBackend()
    conn = Connection(Session("alice", limits), socket, backend, close_timeout_s=0.2)
    return conn, socket, backend


def client_sends(conn: Connection, text: str) -> None:
    conn.execute(conn.session.receive(text))


async def until(predicate, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def test_frames_go_out_in_order_and_the_backlog_drains() -> None:
    conn, socket, backend = serve()
    client_sends(conn, '{"type": "ping"}')
    client_sends(conn, '{"type": "message", "content": "hi"}')
    client_sends(conn, "nope")
    await until(lambda: len(socket.sent) == 2)

    assert [frame["type"] for frame in socket.sent] == ["pong", "error"]
    assert [request.content for request in backend.submitted] == ["hi"]
    assert conn.session.queued_frames == 0


async def test_a_burst_of_events_for_one_socket_is_written_in_one_go() -> None:
    conn, socket, _ = serve()
    conn.session.baseline(0)
    for seq in range(1, 51):
        conn.deliver(seq, thinking(str(seq)), seq - 1)
    await until(lambda: len(socket.sent) == 50)

    assert [frame["seq"] for frame in socket.sent] == list(range(1, 51))
    assert socket.writes == 1


async def test_cancel_and_list_frames_become_backend_requests() -> None:
    conn, socket, backend = serve()
    client_sends(conn, '{"type": "cancel", "run_id": "r-1"}')
    client_sends(conn, '{"type": "list_threads"}')
    client_sends(conn, '{"type": "ping"}')
    await until(lambda: len(socket.sent) == 1)

    assert [r.kind.value for r in backend.requests] == ["cancel", "list_threads"]
    assert socket.sent == [{"type": "pong"}]


async def test_frames_wait_while_the_peer_is_not_reading_and_go_once_it_is() -> None:
    conn, socket, _ = serve()
    socket.writable = False
    for _ in range(3):
        client_sends(conn, '{"type": "ping"}')
    await asyncio.sleep(0.01)
    assert socket.sent == [] and conn.session.queued_frames == 3

    socket.writable = True
    conn.flush()  # what the edge does on resume_writing

    assert socket.sent == [{"type": "pong"}] * 3
    assert conn.session.queued_frames == 0


async def test_slow_consumer_close_drops_the_queue_and_sends_4008() -> None:
    conn, socket, _ = serve(Limits(max_queued_frames=3))
    socket.writable = False  # the peer stopped reading
    for _ in range(4):
        client_sends(conn, '{"type": "ping"}')
    assert conn.session.state is State.CLOSING
    socket.writable = True  # it reads again: what is left is the close
    conn.flush()

    assert socket.sent == []
    assert socket.closed_with is not None and socket.closed_with[0] == CloseCode.SLOW_CONSUMER
    await asyncio.wait_for(conn.wait_closed(), 1)


async def test_a_peer_that_never_takes_the_close_frame_is_let_go() -> None:
    conn, socket, _ = serve()
    socket.writable = False

    conn.close(CloseCode.SERVER_RESTART, "restart")
    await asyncio.wait_for(conn.wait_closed(), 2)  # close_timeout_s is 0.2

    assert socket.closed_with is None
    assert socket.aborted


async def test_nothing_is_written_once_the_socket_is_gone() -> None:
    conn, socket, _ = serve()
    conn.session.baseline(0)
    conn.deliver(1, thinking(), 0)
    conn.lost()
    await asyncio.sleep(0.01)

    assert socket.sent == []
    assert conn.session.state is State.CLOSED
    await asyncio.wait_for(conn.wait_closed(), 1)


async def test_a_resume_pages_through_a_small_send_queue_without_overflowing_it() -> None:
    """10 x the queue's bound of stored events reach a client that reads, none lost, no 4008."""

    async def replay_from_a_big_log(conn: Connection, replay: Replay) -> None:
        stored = list(range(replay.after_seq + 1, replay.after_seq + 81))
        while stored:
            budget = await conn.page_budget()
            assert budget is not None
            frames, _ = budget
            page, stored = stored[:frames], stored[frames:]
            conn.execute(
                conn.session.replayed(replay.generation, [(s, thinking(str(s))) for s in page])
            )
        conn.execute(conn.session.replay_done(replay.generation, replay.after_seq + 80))

    backend = FakeBackend(on_replay=replay_from_a_big_log)
    conn, socket, _ = serve(Limits(max_queued_frames=8), backend)
    conn.start(conn.session.open("100"))
    await until(lambda: socket.sent and socket.sent[-1]["type"] == "caught_up")

    assert [f["seq"] for f in socket.sent[:-1]] == list(range(101, 181))
    assert socket.sent[-1] == {"type": "caught_up", "last_seq": 180}
    assert conn.session.state is State.OPEN
    conn.lost()


async def test_a_newer_resume_cancels_the_replay_in_progress() -> None:
    started: list[int] = []

    async def never_ending(conn: Connection, replay: Replay) -> None:
        started.append(replay.after_seq)
        await asyncio.Event().wait()

    conn, _, _ = serve(backend=FakeBackend(on_replay=never_ending))
    conn.start(conn.session.open("5"))
    await until(lambda: started == [5])
    first = conn._replay

    client_sends(conn, '{"type": "resume", "after_seq": 9}')
    await until(lambda: started == [5, 9])

    assert first is not None and first.cancelled()
    conn.lost()
    await asyncio.sleep(0)
    assert conn._replay is not None and conn._replay.cancelled()  # gone with the socket
