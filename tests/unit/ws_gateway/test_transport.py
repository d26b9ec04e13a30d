"""One socket's reader, writer and replay task, against an in-memory socket."""

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


async def until(predicate, within: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.001)


async def test_frames_are_written_in_order_and_the_backlog_drains() -> None:
    conn, socket, backend = serve()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    socket.client_sends('{"type": "ping"}')
    socket.client_sends('{"type": "message", "content": "hi"}')
    socket.client_sends("nope")
    await until(lambda: len(socket.sent) == 2)

    assert [frame["type"] for frame in socket.sent] == ["pong", "error"]
    assert [request.content for request in backend.submitted] == ["hi"]
    assert conn.session.queued_frames == 0
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await running
    assert conn.session.state is State.CLOSED


async def test_cancel_and_list_frames_become_backend_requests_and_the_reader_goes_on() -> None:
    conn, socket, backend = serve()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    socket.client_sends('{"type": "cancel", "run_id": "r-1"}')
    socket.client_sends('{"type": "list_threads"}')
    socket.client_sends('{"type": "ping"}')
    await until(lambda: len(socket.sent) == 1)

    assert [r.kind.value for r in backend.requests] == ["cancel", "list_threads"]
    assert socket.sent == [{"type": "pong"}]
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await running


async def test_slow_consumer_close_drops_the_queue_and_sends_4008() -> None:
    conn, socket, _ = serve(Limits(max_queued_frames=3))
    socket.writable.clear()  # the peer stopped reading
    running = asyncio.create_task(conn.run(socket.incoming.get))
    for _ in range(4):
        socket.client_sends('{"type": "ping"}')
    await until(lambda: conn.session.state is not State.OPEN)
    socket.writable.set()  # it reads again: what is left is the frame in flight, then the close
    await running

    assert len(socket.sent) <= 1
    assert socket.closed_with is not None and socket.closed_with[0] == CloseCode.SLOW_CONSUMER


async def test_a_peer_that_never_takes_the_close_frame_is_let_go() -> None:
    conn, socket, _ = serve()
    socket.writable.clear()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    await asyncio.sleep(0)

    conn.close(CloseCode.SERVER_RESTART, "restart")
    await asyncio.wait_for(running, 2)  # close_timeout_s is 0.2

    assert socket.closed_with is None
    assert conn.session.state is State.CLOSED


async def test_a_long_close_reason_is_cut_to_the_protocols_limit() -> None:
    conn, socket, _ = serve()
    running = asyncio.create_task(conn.run(socket.incoming.get))
    await asyncio.sleep(0)

    conn.close(CloseCode.SERVER_RESTART, "é" * 100)
    await running

    assert socket.closed_with is not None
    assert len((socket.closed_with[1] or "").encode()) <= 123


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
    opening = conn.session.open("100")
    running = asyncio.create_task(conn.run(socket.incoming.get, opening))
    await until(lambda: socket.sent and socket.sent[-1]["type"] == "caught_up")

    assert [f["seq"] for f in socket.sent[:-1]] == list(range(101, 181))
    assert socket.sent[-1] == {"type": "caught_up", "last_seq": 180}
    assert conn.session.state is State.OPEN
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await running


async def test_a_newer_resume_cancels_the_replay_in_progress() -> None:
    started: list[int] = []

    async def never_ending(conn: Connection, replay: Replay) -> None:
        started.append(replay.after_seq)
        await asyncio.Event().wait()

    conn, socket, _ = serve(backend=FakeBackend(on_replay=never_ending))
    running = asyncio.create_task(conn.run(socket.incoming.get, conn.session.open("5")))
    await until(lambda: started == [5])
    first = conn._replay

    socket.client_sends('{"type": "resume", "after_seq": 9}')
    await until(lambda: started == [5, 9])

    assert first is not None and first.cancelled()
    socket.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await running
    assert conn._replay is not None and conn._replay.cancelled()  # gone with the socket
