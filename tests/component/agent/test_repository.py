"""Threads and run records on a real database (SQLite, then PostgreSQL): ownership, history,
listing, idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.agent.models import RunStatus
from services.agent.repository import (
    AgentRepository,
    DuplicateMessage,
    create_tables,
    open_engine,
)

pytestmark = pytest.mark.both_databases


@pytest.fixture
async def repository(database_url: str) -> AsyncIterator[AgentRepository]:
    # SQLite's file is in a folder that does not exist yet, as on a fresh clone.
    engine = open_engine(database_url)
    await create_tables(engine)
    try:
        yield AgentRepository(engine)
    finally:
        await engine.dispose()


async def test_a_thread_is_found_only_by_its_owner(repository: AgentRepository) -> None:
    thread = await repository.create_thread("alice", "x" * 200)

    assert await repository.find_thread(thread.id, "alice") == thread
    assert await repository.find_thread(thread.id, "mallory") is None
    assert len(thread.title) == 80


async def test_thread_history_is_its_messages_oldest_first(repository: AgentRepository) -> None:
    thread = await repository.create_thread("alice", "first")
    other = await repository.create_thread("alice", "elsewhere")
    for content in ("first", "second", "third"):
        await repository.create_run(thread_id=thread.id, user_id="alice", content=content)
    await repository.create_run(thread_id=other.id, user_id="alice", content="elsewhere")

    assert await repository.thread_messages(thread.id) == ["first", "second", "third"]


async def test_a_follow_up_hears_only_the_messages_before_it(
    repository: AgentRepository,
) -> None:
    first = await repository.create_run(user_id="alice", content="first")
    second = await repository.create_run(user_id="alice", content="2nd", thread_id=first.thread_id)
    await repository.create_run(user_id="alice", content="third", thread_id=first.thread_id)

    assert await repository.thread_messages(first.thread_id, before_run=second.id) == ["first"]
    assert await repository.thread_messages(first.thread_id, before_run=first.id) == []


async def test_a_new_run_waits_queued_in_a_new_thread_titled_after_it(
    repository: AgentRepository,
) -> None:
    run = await repository.create_run(user_id="alice", content="why is the api slow?")

    assert run.status is RunStatus.QUEUED
    thread = await repository.find_thread(run.thread_id, "alice")
    assert thread is not None and thread.title == "why is the api slow?"


async def test_a_resent_client_msg_id_names_the_original_run_and_adds_nothing(
    repository: AgentRepository,
) -> None:
    original = await repository.create_run(user_id="alice", content="hi", client_msg_id="m1")

    with pytest.raises(DuplicateMessage) as caught:
        await repository.create_run(user_id="alice", content="hi", client_msg_id="m1")

    assert caught.value.original.id == original.id
    assert [t.id for t in (await repository.list_threads("alice", limit=50)).items] == [
        original.thread_id
    ]
    other = await repository.create_run(user_id="bob", content="hi", client_msg_id="m1")
    assert other.id != original.id  # the id is unique per user, not across users


async def test_threads_are_listed_most_recently_used_first_and_only_to_their_owner(
    repository: AgentRepository,
) -> None:
    older = await repository.create_run(user_id="alice", content="older")
    newer = await repository.create_run(user_id="alice", content="newer")
    await repository.create_run(user_id="mallory", content="mine")
    await repository.create_run(user_id="alice", content="again", thread_id=older.thread_id)

    threads = (await repository.list_threads("alice", limit=50)).items

    assert [t.id for t in threads] == [older.thread_id, newer.thread_id]
    assert threads[0].updated_at > threads[0].created_at
    runs = (await repository.list_runs(older.thread_id, limit=50)).items
    assert [r.content for r in runs] == ["again", "older"]  # newest first


def test_an_unusable_database_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        open_engine("not a url://secret-password@host")

    assert "secret-password" not in str(caught.value)
