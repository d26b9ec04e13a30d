"""The auth service in-process, on a real database: SQLite always, PostgreSQL where one answers.

Every test that asks for ``database_url`` (directly, or through ``settings`` or ``client``) runs
twice: against a fresh SQLite file, and against a fresh PostgreSQL database made for that test
on the server at 127.0.0.1:5432 (CI has one; trust auth, database ``test``) and dropped after
(``postgres_url``, in tests/component/conftest.py, which the agent's tests share). Where no
server answers, the PostgreSQL variant is skipped, saying so.

Most tests call the app in-process (``client``); ``serve`` runs it on uvicorn on a loopback port,
configured as ``python -m services.auth`` serves it, for tests about real connections: many at
once, and the TCP peer behind ``X-Forwarded-For``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import argon2
import pytest
import uvicorn
from litestar.testing import AsyncTestClient

from devstack.keys import ensure_keypair
from services.auth.app import create_app, server_config
from services.auth.passwords import PasswordHasher
from services.auth.settings import AuthSettings

ADMIN_KEY = "an-admin-key-long-enough-to-be-accepted-0123456789"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # A plain function: it asks for the async ``postgres_url`` only when it needs it, and that
    # must happen outside the event loop that pytest-asyncio runs the fixture in.
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For tests about SQLite itself (its file, its folder)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}"


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., AuthSettings]:
    """Settings with the test's key pair, the admin route on, and any field changed."""
    keys = ensure_keypair(tmp_path / "keys")

    def make(**changes: object) -> AuthSettings:
        options: dict = {"private_key_file": keys.private_path, "admin_api_key": ADMIN_KEY}
        return AuthSettings(**(options | changes))

    return make


@pytest.fixture
def settings(make_settings: Callable[..., AuthSettings], database_url: str) -> AuthSettings:
    return make_settings(database_url=database_url)


@pytest.fixture
def sqlite_settings(make_settings: Callable[..., AuthSettings], sqlite_url: str) -> AuthSettings:
    return make_settings(database_url=sqlite_url)


@pytest.fixture
def hasher() -> PasswordHasher:
    # Cheap parameters: the behaviour is the same, the tests stay fast on a loaded machine.
    return PasswordHasher(argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def make_client(
    hasher: PasswordHasher,
) -> Callable[[AuthSettings], AsyncTestClient]:
    """A client of a new app with these settings (enter it with ``async with``)."""

    def make(settings: AuthSettings) -> AsyncTestClient:
        return AsyncTestClient(app=create_app(settings, passwords=hasher), timeout=30)

    return make


@pytest.fixture
async def client(
    settings: AuthSettings, make_client: Callable[[AuthSettings], AsyncTestClient]
) -> AsyncIterator[AsyncTestClient]:
    async with make_client(settings) as client:
        yield client


Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve(hasher: PasswordHasher) -> AsyncIterator[Serve]:
    """``await serve(settings)`` starts the app on uvicorn and returns its base URL.

    ``passwords=`` replaces the hasher. Every server started is stopped after the test.
    """
    running: list[tuple[uvicorn.Server, asyncio.Task[None], socket.socket]] = []

    async def start(settings: AuthSettings, *, passwords: PasswordHasher | None = None) -> str:
        app = create_app(settings, passwords=passwords or hasher)
        server = uvicorn.Server(server_config(app, settings))
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        task = asyncio.create_task(server.serve(sockets=[listener]))
        running.append((server, task, listener))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the auth server stopped before it started")
            await asyncio.sleep(0.01)
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for server, task, listener in running:
        server.should_exit = True
        await task
        listener.close()
