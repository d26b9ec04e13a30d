"""Least-privilege NATS: each service's NATS user is refused outside its own subjects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest

from devstack.natsauth import OPERATOR, authorization_block, ensure_credentials
from devstack.natsd import EmbeddedNats

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[EmbeddedNats, dict[str, str]]]:
    directory = Path(tmp_path_factory.mktemp("secured"))
    passwords = ensure_credentials(directory)
    server = EmbeddedNats(store_dir=directory, authorization=authorization_block(passwords)).start()
    try:
        yield server, passwords
    finally:
        server.stop()


class Connection:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: nats.aio.client.Client | None = None

    async def open(self, url: str, user: str, password: str) -> Connection:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.nc = await nats.connect(
            url, user=user, password=password, error_cb=on_error, allow_reconnect=False
        )
        return self

    async def refused(self) -> bool:
        """True once the server has reported a permissions violation on this connection."""
        assert self.nc is not None
        await self.nc.flush()
        for _ in range(50):
            if any("permissions violation" in e.lower() for e in self.errors):
                return True
            await asyncio.sleep(0.02)
        return False


@pytest.fixture
async def as_user(secured: tuple[EmbeddedNats, dict[str, str]]) -> AsyncIterator:
    server, passwords = secured
    opened: list[Connection] = []

    async def connect(user: str) -> Connection:
        conn = await Connection().open(server.url, user, passwords[user])
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        if conn.nc is not None and not conn.nc.is_closed:
            await conn.nc.close()


async def _noop(_: object) -> None:
    pass


FORBIDDEN_SUBSCRIPTIONS = [
    ("ws_gateway", "user.*.events"),  # only the stream's live republish, never the raw subject
    ("ws_gateway", "agent.runs.cancel"),  # the gateway asks; it never answers agent requests
    ("tools", "agent.runs.cancel"),  # the tool runner may not read agent requests
    ("agent", "agent.intake.*.*.*"),  # messages reach agents only through the RUNS consumer
    ("tools", "live.user.*.events"),
    ("agent", "live.user.*.events"),  # only the gateway reads users' event streams
    ("auth", "live.user.*.events"),
    ("auth", "tools.call.*"),
    ("agent", ">"),
]


@pytest.mark.parametrize(("user", "subject"), FORBIDDEN_SUBSCRIPTIONS)
async def test_a_service_cannot_subscribe_outside_its_permissions(
    as_user, user: str, subject: str
) -> None:
    conn = await as_user(user)
    assert conn.nc is not None
    await conn.nc.subscribe(subject, cb=_noop)
    assert await conn.refused()


FORBIDDEN_PUBLISHES = [
    ("ws_gateway", "user.u1.events"),  # a forged event straight into someone's stream
    ("auth", "user.u1.events"),
    ("ws_gateway", "tools.call.analyze_performance"),  # the gateway cannot call tools
    ("ws_gateway", "tools.catalog"),  # nor ask which tools there are: agents plan the calls
    ("tools", "agent.intake.u1.t1.r1"),  # only a gateway stores chat messages
    ("agent", "agent.intake.u1.t1.r1"),
    ("auth", "agent.intake.u1.t1.r1"),
    ("ws_gateway", "$JS.ACK.RUNS.agents.1.1.1.1.1"),  # only an agent takes a message in
    ("ws_gateway", "$JS.API.STREAM.PURGE.RUNS"),  # nobody but the operator empties the queue
    ("agent", "$JS.API.STREAM.DELETE.RUNS"),
    ("agent", "auth.revoked.u1"),  # only auth revokes tokens
    ("ws_gateway", "$JS.API.STREAM.DELETE.EVENTS"),  # nobody but the operator deletes the log
    ("ws_gateway", "$JS.API.STREAM.CREATE.REVOCATIONS"),  # the auth service keeps revocations
    ("auth", "$JS.API.STREAM.DELETE.REVOCATIONS"),  # and cannot erase them
]


@pytest.mark.parametrize(("user", "subject"), FORBIDDEN_PUBLISHES)
async def test_a_service_cannot_publish_outside_its_permissions(
    as_user, user: str, subject: str
) -> None:
    conn = await as_user(user)
    assert conn.nc is not None
    await conn.nc.publish(subject, b"{}")
    assert await conn.refused()


ALLOWED_SUBSCRIPTIONS = [
    ("ws_gateway", "live.user.*.events"),
    ("agent", "agent.runs.cancel"),
    ("tools", "tools.call.*"),
    ("tools", "tools.call.analyze_performance"),  # a runner subscribes to the tools it has
    ("tools", "tools.catalog"),  # and answers the catalog
    ("auth", "auth.jwks"),
]


ALLOWED_PUBLISHES = [
    ("ws_gateway", "agent.intake.u1.t1.r1"),  # a gateway stores chat messages for the agents
    ("agent", "$JS.API.CONSUMER.MSG.NEXT.RUNS.agents"),  # an agent pulls them
    ("agent", "$JS.ACK.RUNS.agents.1.1.1.1.1"),  # and acknowledges them
    ("agent", "tools.catalog"),  # an agent asks the tool runners for their tools
]


@pytest.mark.parametrize(("user", "subject"), ALLOWED_PUBLISHES)
async def test_a_service_may_publish_its_own_subjects(as_user, user: str, subject: str) -> None:
    conn = await as_user(user)
    assert conn.nc is not None
    await conn.nc.publish(subject, b"{}")
    assert not await conn.refused()


@pytest.mark.parametrize(("user", "subject"), ALLOWED_SUBSCRIPTIONS)
async def test_a_service_may_use_its_own_subjects(as_user, user: str, subject: str) -> None:
    conn = await as_user(user)
    assert conn.nc is not None
    await conn.nc.subscribe(subject, cb=_noop)
    assert not await conn.refused()


@pytest.mark.parametrize("credentials", ['{"verbose":false}', '{"user":"agent","pass":"wrong"}'])
async def test_a_connection_without_valid_credentials_is_refused(secured, credentials: str) -> None:
    server, _ = secured
    # Spoken by hand: nats-py leaves its socket open when the server refuses the CONNECT.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        await reader.readline()  # INFO
        writer.write(f"CONNECT {credentials}\r\nPING\r\n".encode())
        answer = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert b"Authorization Violation" in answer


async def test_the_operator_may_do_anything(as_user) -> None:
    conn = await as_user(OPERATOR)
    assert conn.nc is not None
    await conn.nc.subscribe(">", cb=_noop)
    assert not await conn.refused()
