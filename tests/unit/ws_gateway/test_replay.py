"""The replay's decisions, against an in-memory event log: when to say resume_gap, how to page."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from services.ws_gateway.eventlog import EventLogError, Page, Stored
from services.ws_gateway.replay import Replayer
from services.ws_gateway.session import Close, Command, Limits, Replay, Send, Session, State
from shared.errors import CloseCode
from tests.unit.ws_gateway.fakes import thinking

ME, OTHER = "me", "other"


@dataclass
class MemoryLog:
    """The EVENTS stream: (seq, user) rows, oldest first; ``failures`` reads fail first."""

    rows: list[tuple[int, str]] = field(default_factory=list)
    failures: int = 0
    pages: list[int] = field(default_factory=list)  # the batch size of each page read

    def _read(self) -> None:
        if self.failures:
            self.failures -= 1
            raise EventLogError("not now")

    async def get(self, seq: int) -> Stored | None:
        self._read()
        return next((Stored(s, f"user.{u}.events") for s, u in self.rows if s == seq), None)

    async def oldest(self, user_id: str) -> int:
        self._read()
        return next((s for s, u in self.rows if u == user_id), 0)

    async def newest(self, user_id: str) -> int:
        self._read()
        return max((s for s, u in self.rows if u == user_id), default=0)

    async def first_seq(self) -> int:
        self._read()
        return min((s for s, _ in self.rows), default=0)

    async def last_seq(self) -> int:
        self._read()
        return max((s for s, _ in self.rows), default=0)

    async def page(self, user_id: str, start_seq: int, batch: int, max_bytes: int) -> Page:
        self._read()
        self.pages.append(batch)
        mine = [s for s, u in self.rows if u == user_id and s >= start_seq]
        return Page([(s, thinking(str(s))) for s in mine[:batch]], len(mine[batch:]))


class Client:
    """The socket side: a real session whose frames are written (and read) at once."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.session = Session(ME, limits)
        self.frames: list[dict[str, object]] = []
        self.closed: Close | None = None

    def execute(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Send):
                self.frames.append(json.loads(command.frame))
                self.session.sent(len(command.frame))
            elif isinstance(command, Close):
                self.closed = command

    async def page_budget(self) -> tuple[int, int] | None:
        return self.session.page_budget()

    def seen(self) -> list[object]:
        return [f["seq"] if "seq" in f else f["type"] for f in self.frames]


async def resume(log: MemoryLog, after_seq: int, client: Client | None = None) -> Client:
    client = client or Client()
    [replay] = client.session.resume(after_seq)
    assert isinstance(replay, Replay)
    await Replayer(log, give_up_after_s=0.2).run(client, replay)  # type: ignore[arg-type]
    return client


def stream(*rows: tuple[int, str]) -> MemoryLog:
    return MemoryLog(list(rows))


async def test_everything_after_the_resume_point_then_caught_up() -> None:
    log = stream((1, ME), (2, OTHER), (3, ME), (4, ME), (5, OTHER))

    client = await resume(log, 1)

    assert client.seen() == [3, 4, "caught_up"]
    assert client.frames[-1] == {"type": "caught_up", "last_seq": 4}


async def test_nothing_missed_still_gets_caught_up_with_the_clients_seq() -> None:
    client = await resume(stream((1, ME), (2, OTHER)), 1)

    assert client.frames == [{"type": "caught_up", "last_seq": 1}]


async def test_a_resume_point_the_stream_dropped_with_older_events_of_the_user_kept_is_no_gap() -> (
    None
):
    log = stream((1, ME), (3, ME), (4, ME))  # 2 was deleted on its own; 1 is still there

    assert (await resume(log, 2)).seen() == [3, 4, "caught_up"]


async def test_a_resume_point_older_than_the_users_oldest_kept_event_is_a_gap() -> None:
    log = stream((7, OTHER), (9, ME), (10, ME))  # the user's events up to 8 are gone

    client = await resume(log, 4)

    assert client.seen() == ["resume_gap", 9, 10, "caught_up"]
    assert client.frames[0] == {"type": "resume_gap", "after_seq": 4, "oldest_seq": 9}


async def test_a_resume_point_on_another_users_event_with_the_users_oldest_newer_is_a_gap() -> None:
    log = stream((4, OTHER), (9, ME))  # the log was reset and seq 4 belongs to someone else now

    assert (await resume(log, 4)).seen() == ["resume_gap", 9, "caught_up"]


async def test_a_user_with_nothing_kept_in_a_stream_expired_past_the_point_is_told_so() -> None:
    log = stream((30, OTHER), (31, OTHER))  # everything up to 29 expired, the user's too

    client = await resume(log, 12)

    assert client.frames == [
        {"type": "resume_gap", "after_seq": 12, "oldest_seq": 32},
        {"type": "caught_up", "last_seq": 31},
    ]
    # Resuming from what caught_up said finds nothing missing: the gap is reported once.
    assert (await resume(log, 31)).frames == [{"type": "caught_up", "last_seq": 31}]


async def test_a_user_with_nothing_kept_in_a_stream_that_kept_everything_after_n_has_no_gap() -> (
    None
):
    log = stream((5, OTHER), (30, OTHER))  # 12 was deleted on its own; nothing expired past it

    assert (await resume(log, 12)).frames == [{"type": "caught_up", "last_seq": 12}]


async def test_a_resume_point_past_the_end_of_the_stream_means_nothing_to_replay() -> None:
    log = stream((1, ME), (2, OTHER), (3, ME))

    client = await resume(log, 900)

    assert client.frames == [{"type": "caught_up", "last_seq": 3}]
    client.execute(client.session.event(4, thinking(), previous=3))
    assert client.seen()[-1] == 4  # the next event is not taken for an old one


async def test_a_big_backlog_is_read_in_pages_that_fit_the_send_queue() -> None:
    log = stream(*[(seq, ME) for seq in range(1, 201)])
    client = Client(Limits(max_queued_frames=16))

    await resume(log, 0, client)

    assert client.seen() == [*range(1, 201), "caught_up"]
    assert max(log.pages) <= 8 and len(log.pages) >= 25
    assert client.session.state is State.OPEN


async def test_a_read_that_fails_for_a_moment_is_retried() -> None:
    log = stream((1, ME), (2, ME))
    log.failures = 2

    assert (await resume(log, 1)).seen() == [2, "caught_up"]


async def test_a_stream_that_stays_away_closes_the_socket_to_resume_later() -> None:
    log = stream((1, ME), (2, ME))
    log.failures = 10_000

    client = await resume(log, 1)

    assert client.closed is not None and client.closed.code == CloseCode.INTERNAL_ERROR
    assert client.frames == []
