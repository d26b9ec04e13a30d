"""The agent's list answers, paged: newest first, cursors that walk the whole list, pages cut to
the reply budget, and cursors that are not ours refused."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.agent.models import RunStatus
from services.agent.paging import Page, Position, paged
from services.agent.repository import StoredRun, StoredThread
from services.agent.service import AgentService
from shared.errors import ErrorCode
from shared.wire.runs import ListRunsRequest, ListThreadsRequest, RunList, RunRejected, ThreadList


@dataclass
class Rows:
    """Just enough of a store for the lists; the other collaborators are never called."""

    threads: dict[str, StoredThread] = field(default_factory=dict)
    runs: list[StoredRun] = field(default_factory=list)

    def thread(self, thread_id: str, user_id: str = "alice", at: float = 1.0) -> None:
        self.threads[thread_id] = StoredThread(thread_id, user_id, thread_id, at, at)

    def run(self, run_id: str, at: float, result: str = "ok", thread_id: str = "t") -> None:
        self.runs.append(
            StoredRun(run_id, thread_id, "alice", RunStatus.COMPLETED, "go", at, result=result)
        )

    async def find_thread(self, thread_id: str, user_id: str) -> StoredThread | None:
        thread = self.threads.get(thread_id)
        return thread if thread is not None and thread.user_id == user_id else None

    async def list_threads(
        self, user_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredThread]:
        mine = [t for t in self.threads.values() if t.user_id == user_id]
        return paged(mine, lambda t: Position(round(t.updated_at * 1e6), t.id), limit, after)

    async def list_runs(
        self, thread_id: str, *, limit: int, after: Position | None = None
    ) -> Page[StoredRun]:
        runs = [r for r in self.runs if r.thread_id == thread_id]
        return paged(runs, lambda r: Position(round(r.created_at * 1e6), r.id), limit, after)


class EmptyQueue:
    """No message waits for an agent."""

    async def of_thread(self, user_id: str, thread_id: str) -> list[object]:
        return []

    async def of_user(self, user_id: str) -> list[object]:
        return []


def agent(rows: Rows, budget: int = 512 * 1024) -> AgentService:
    return AgentService(
        store=rows,  # type: ignore[arg-type]
        ledger=None,  # type: ignore[arg-type]
        tasks=None,  # type: ignore[arg-type]
        queue=EmptyQueue(),  # type: ignore[arg-type]
        broadcast_cancel=None,  # type: ignore[arg-type]
        reply_budget_bytes=budget,
    )


async def walk_runs(service: AgentService, limit: int) -> list[RunList]:
    pages: list[RunList] = []
    cursor = None
    while True:
        page = await service.list_runs(
            ListRunsRequest(user_id="alice", thread_id="t", limit=limit, cursor=cursor)
        )
        assert isinstance(page, RunList), page
        assert page.cursor == cursor  # the page says which request it answers
        pages.append(page)
        if (cursor := page.next_cursor) is None:
            return pages


async def test_runs_are_listed_newest_first_page_after_page_without_gap_or_double() -> None:
    rows = Rows()
    rows.thread("t")
    for i in range(7):
        rows.run(f"r{i}", at=100.0 + i // 2)  # pairs share a time: the id decides

    pages = await walk_runs(agent(rows), limit=3)

    ids = [run.run_id for page in pages for run in page.runs]
    assert ids == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
    assert [len(page.runs) for page in pages] == [3, 3, 1]


async def test_a_page_is_cut_to_the_reply_budget_and_the_next_one_goes_on_from_there() -> None:
    rows = Rows()
    rows.thread("t")
    for i in range(10):
        rows.run(f"r{i}", at=100.0 + i, result="x" * 1000)

    pages = await walk_runs(agent(rows, budget=3500), limit=10)

    assert all(len(page.runs) == 3 for page in pages[:-1])  # ~1.1 KB each: three fit
    assert [run.run_id for page in pages for run in page.runs] == [
        f"r{i}" for i in range(9, -1, -1)
    ]


async def test_threads_are_listed_most_recently_used_first_in_pages() -> None:
    rows = Rows()
    for i, at in enumerate([5.0, 9.0, 7.0]):
        rows.thread(f"t{i}", at=at)
    rows.thread("theirs", user_id="mallory", at=8.0)
    service = agent(rows)

    first = await service.list_threads(ListThreadsRequest(user_id="alice", limit=2))
    assert isinstance(first, ThreadList) and first.next_cursor is not None
    rest = await service.list_threads(
        ListThreadsRequest(user_id="alice", limit=2, cursor=first.next_cursor)
    )

    assert isinstance(rest, ThreadList) and rest.next_cursor is None
    assert [t.thread_id for t in first.threads + rest.threads] == ["t1", "t2", "t0"]


async def test_a_cursor_the_agent_did_not_give_out_is_an_invalid_frame() -> None:
    rows = Rows()
    rows.thread("t")
    rows.thread("u", at=2.0)
    service = agent(rows)
    threads = await service.list_threads(ListThreadsRequest(user_id="alice", limit=1))
    assert isinstance(threads, ThreadList) and threads.next_cursor

    forged = await service.list_runs(ListRunsRequest(user_id="alice", thread_id="t", cursor="abc"))
    crossed = await service.list_runs(
        ListRunsRequest(user_id="alice", thread_id="t", cursor=threads.next_cursor)
    )

    for reply in (forged, crossed):
        assert isinstance(reply, RunRejected) and reply.code == ErrorCode.INVALID_FRAME


async def test_a_cursor_does_not_open_someone_elses_thread() -> None:
    rows = Rows()
    rows.thread("t", user_id="mallory")
    rows.run("r0", at=1.0)
    rows.run("r1", at=2.0)
    mallory_page = await agent(rows).list_runs(
        ListRunsRequest(user_id="mallory", thread_id="t", limit=1)
    )
    assert isinstance(mallory_page, RunList) and mallory_page.next_cursor

    reply = await agent(rows).list_runs(
        ListRunsRequest(user_id="alice", thread_id="t", cursor=mallory_page.next_cursor)
    )

    assert reply == RunRejected(code="thread_not_found", message="no such thread")
