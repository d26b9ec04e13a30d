"""A real gateway for each test: uvicorn on a free loopback port, a real nats-server, real keys.

``start_gateway(**env)`` serves the gateway inside the test's loop; ``sign(user_id)`` makes an
access token the way the auth service does (EdDSA, a ``kid``); ``FakeAuth`` publishes the key
set on NATS like the auth service (``auth.jwks``, ``auth.jwks.changed``, ``auth.revoked.*``);
``FakeAgent`` takes messages from the RUNS queue (the agents' durable pull consumer) and
publishes a short run through the shared EventPublisher, like the real agent would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
import nats
import nats.errors
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from websockets.asyncio.client import ClientConnection, connect

from devstack.keys import KeyPair, ensure_keypair
from services.auth.keys import load_private_key, thumbprint_kid
from services.ws_gateway.app import GatewayServer, create_server
from services.ws_gateway.settings import GatewaySettings
from shared import subjects
from shared.bus import EventPublisher, ensure_stream, revocations_stream_config
from shared.runqueue import agents_consumer_config, ensure_runs_stream
from shared.settings import Env, NatsSettings
from shared.tokens import jwk_for
from shared.wire import events, runs
from shared.wire.intake import RunIntake, decode_intake
from shared.wire.keys import Jwks, encode_jwks
from shared.wire.revocation import Revocation, encode_revocation

ISSUER = "agentwire-auth"
AUDIENCE = "agentwire"


class Sign(Protocol):
    def __call__(
        self,
        user_id: str,
        *,
        ttl_s: float = 300,
        pair: KeyPair | None = None,
        session_id: str | None = None,
        issued_at: int | None = None,
    ) -> str: ...


def kid_of(pair: KeyPair) -> str:
    return thumbprint_kid(load_private_key(pair.private_path))


@dataclass
class FakeAuth:
    """The auth service's NATS side: answers ``auth.jwks`` with the published pairs' keys."""

    nc: NATS
    published: list[KeyPair] = field(default_factory=list)
    fetches: int = 0
    _sub: Subscription | None = None

    def jwks(self) -> Jwks:
        return Jwks(
            keys=[
                jwk_for(kid_of(pair), load_private_key(pair.private_path).public_key())
                for pair in self.published
            ]
        )

    async def start(self) -> FakeAuth:
        # The stream that keeps revocations for gateways that missed them (as auth makes it).
        config = revocations_stream_config(NatsSettings(), keep_s=960)
        await ensure_stream(self.nc.jetstream(), config)
        self._sub = await self.nc.subscribe(subjects.auth_jwks(), cb=self._on_request)
        await self.nc.flush()
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def announce(self) -> None:
        """Publish the current set on ``auth.jwks.changed`` (a rotation or a retirement)."""
        await self.nc.publish(subjects.auth_jwks_changed(), encode_jwks(self.jwks()))
        await self.nc.flush()

    async def revoke(self, revocation: Revocation) -> None:
        await self.nc.publish(
            subjects.auth_revoked(revocation.user_id), encode_revocation(revocation)
        )
        await self.nc.flush()

    async def _on_request(self, msg: Msg) -> None:
        self.fetches += 1
        await msg.respond(encode_jwks(self.jwks()))


@dataclass
class RunningGateway:
    server: GatewayServer
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def connect(
        self, token: str | None = None, after_seq: int | str | None = None, **kwargs: Any
    ) -> ClientConnection:
        """A websockets client on ``/ws``; ``after_seq`` resumes after that event."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        url = self.url if after_seq is None else f"{self.url}?after_seq={after_seq}"
        return await connect(url, additional_headers=headers, compression=None, **kwargs)

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, timeout=30)


@pytest.fixture
def keys(tmp_path: Path) -> KeyPair:
    return ensure_keypair(tmp_path / "keys")


@pytest.fixture
def sign(keys: KeyPair) -> Sign:
    def make(
        user_id: str,
        *,
        ttl_s: float = 300,
        pair: KeyPair | None = None,
        session_id: str | None = None,
        issued_at: int | None = None,
    ) -> str:
        pair = pair or keys
        key = load_pem_private_key(pair.private_path.read_bytes(), password=None)
        now = int(time.time()) if issued_at is None else issued_at
        claims = {
            "sub": user_id,
            "sid": session_id or f"s-{uuid.uuid4().hex[:12]}",
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now - 1,
            "exp": now + int(ttl_s),
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": kid_of(pair)}
        return jwt.encode(claims, key, algorithm="EdDSA", headers=headers)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def auth(nc: NATS, keys: KeyPair) -> AsyncIterator[FakeAuth]:
    fake = await FakeAuth(nc, [keys]).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_gateway(
    nats_url: str, auth: FakeAuth, fresh_runs_queue: None
) -> AsyncIterator[Callable[..., Awaitable[RunningGateway]]]:
    running: list[RunningGateway] = []

    async def start(send_buffer: int | None = None, **env: str) -> RunningGateway:
        """``send_buffer`` caps the kernel send buffer of every accepted socket (slow clients)."""
        settings = GatewaySettings.from_env(
            Env(
                {
                    "NATS_URL": nats_url,
                    "GATEWAY_PORT": "0",
                    "CLOSE_TIMEOUT_S": "3",
                    **env,
                }
            )
        )
        server = create_server(settings)
        task = asyncio.create_task(_serve(server, _listener(send_buffer)))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("gateway exited before it started")
            await asyncio.sleep(0.01)
        gateway = RunningGateway(server, task)
        running.append(gateway)
        return gateway

    yield start
    for gateway in running:
        if not gateway.task.done():
            await gateway.stop()


async def _serve(server: GatewayServer, listener: socket.socket) -> None:
    try:
        await server.serve(sockets=[listener])
    except SystemExit as exc:
        # uvicorn exits the process when startup fails; in a test that would stop the loop.
        raise RuntimeError(f"gateway failed to start (exit status {exc.code}); see log") from None
    finally:
        listener.close()


def _listener(send_buffer: int | None) -> socket.socket:
    """A loopback listening socket; accepted sockets inherit its buffer size."""
    sock = socket.socket()
    if send_buffer is not None:
        # A fixed size also turns off the kernel's autotuning, which would otherwise let the
        # buffer grow to several MB and hide a client that does not read.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def user_id() -> Iterator[str]:
    yield f"u-{uuid.uuid4().hex[:16]}"


class QueueReader:
    """Takes messages from the RUNS queue as the agents do (the durable pull consumer), acks
    each, and hands it to ``take``; ``pause()`` stops taking, as when no agent is running."""

    def __init__(self, nc: NATS, take: Callable[[RunIntake], Awaitable[None]]) -> None:
        self._nc = nc
        self._take = take
        self._task: asyncio.Task[None] | None = None
        self.taking = True

    async def start(self) -> None:
        js = self._nc.jetstream()
        await ensure_runs_stream(js, NatsSettings())
        config = agents_consumer_config(ack_wait_s=5, max_deliver=5)
        await js.add_consumer(subjects.RUNS_STREAM, config)
        self._sub = await js.pull_subscribe_bind(
            durable=subjects.AGENTS_CONSUMER, stream=subjects.RUNS_STREAM
        )
        self._task = asyncio.create_task(self._pull())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await self._task
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    async def _pull(self) -> None:
        while True:
            if not self.taking:
                await asyncio.sleep(0.02)
                continue
            try:
                msgs = await self._sub.fetch(8, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                continue
            except nats.errors.Error:  # the queue was deleted under it (a test's doing)
                await asyncio.sleep(0.1)
                continue
            for msg in msgs:
                await msg.ack()
                await self._take(decode_intake(msg.data))


@dataclass
class FakeAgent:
    """Takes messages from the RUNS queue like the agent service and runs each briefly."""

    nc: NATS
    thoughts: int = 2
    requests: list[RunIntake] = field(default_factory=list)
    _reader: QueueReader | None = None

    @property
    def answer(self) -> bool:
        return self._reader is not None and self._reader.taking

    @answer.setter
    def answer(self, taking: bool) -> None:
        assert self._reader is not None
        self._reader.taking = taking

    async def start(self) -> FakeAgent:
        self._reader = QueueReader(self.nc, self._on_intake)
        await self._reader.start()
        return self

    async def stop(self) -> None:
        if self._reader is not None:
            await self._reader.stop()

    async def _on_intake(self, intake: RunIntake) -> None:
        self.requests.append(intake)
        started = runs.RunStarted(run_id=intake.run_id, thread_id=intake.thread_id)
        await self._run(intake.user_id, started)

    async def _run(self, user_id: str, started: runs.RunStarted) -> None:
        publisher = EventPublisher(self.nc.jetstream())
        ids = {"run_id": started.run_id, "thread_id": started.thread_id}
        await publisher.publish(
            user_id,
            events.AgentStarted(
                **ids, data=events.AgentStartedData(agent_id="fake", message="starting")
            ),
        )
        for step in range(self.thoughts):
            await publisher.publish(
                user_id,
                events.AgentThinking(
                    **ids,
                    data=events.AgentThinkingData(
                        agent_id="fake", thought=f"step {step}", step=step
                    ),
                ),
            )
        await publisher.publish(
            user_id,
            events.AgentCompleted(
                **ids, data=events.AgentCompletedData(agent_id="fake", result="done")
            ),
        )


@pytest.fixture
async def agent(nc: nats.aio.client.Client) -> AsyncIterator[FakeAgent]:
    fake = await FakeAgent(nc).start()
    yield fake
    await fake.stop()


async def raw_socket(
    gateway: RunningGateway, token: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A client that does the WebSocket handshake by hand, to behave as no library would."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert response.startswith(b"HTTP/1.1 101"), response
    return reader, writer


async def recv_json(ws: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def recv_until(ws: ClientConnection, type_: str, within: float = 5.0) -> list[dict[str, Any]]:
    """Every frame up to and including the first of ``type_``."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not got or got[-1]["type"] != type_:
            got.append(json.loads(await ws.recv()))
    return got


async def eventually(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for something the gateway does after the client has moved on.

    Polling, because the gateway's state has no event to wait on, and tests must not add one.
    """
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def thought(text: str, run_id: str = "run-1") -> events.AgentThinking:
    return events.AgentThinking(
        run_id=run_id,
        thread_id="th-1",
        data=events.AgentThinkingData(agent_id="a", thought=text),
    )


async def publish(nc: NATS, user_id: str, *texts: str) -> list[int]:
    """Store one agent_thinking event per text for ``user_id``; their seqs, in order."""
    publisher = EventPublisher(nc.jetstream())
    return [await publisher.publish(user_id, thought(text)) for text in texts]


async def recv_through(
    ws: ClientConnection, done: Callable[[dict[str, Any]], bool], within: float = 10.0
) -> list[dict[str, Any]]:
    """Every frame up to and including the first for which ``done(frame)`` is true."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while not got or not done(got[-1]):
            got.append(json.loads(await ws.recv()))
    return got


async def drop(ws: ClientConnection) -> None:
    """Lose the connection the way a network does: no closing handshake.

    (Also what a test wants after leaving frames unread: a websockets client whose queue is full
    stops reading, so its close() would wait out its close timeout for the server's answer.)
    """
    ws.transport.abort()
    await ws.wait_closed()


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    """The seqs of the event frames among ``frames``, in arrival order."""
    return [f["seq"] for f in frames if "seq" in f]


class NatsProxy:
    """A TCP relay between a gateway and nats-server that a test can cut and restore.

    Cutting drops every relayed connection and turns new ones away, as a network partition
    would: the gateway's nats-py client sees its connection die and keeps trying to reconnect.
    """

    def __init__(self, upstream_url: str) -> None:
        address = upstream_url.removeprefix("nats://")
        self._host, port = address.rsplit(":", 1)
        self._port = int(port)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.is_cut = False

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"nats://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def cut(self) -> None:
        self.is_cut = True
        for writer in tuple(self._links):
            writer.transport.abort()

    def restore(self) -> None:
        self.is_cut = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        self._links |= {writer, up_writer}
        try:
            await asyncio.gather(
                _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self._links -= {writer, up_writer}
            for end in (writer, up_writer):
                end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()  # one side gone: take the other down with it


@pytest.fixture
async def nats_proxy(nats_url: str) -> AsyncIterator[tuple[NatsProxy, str]]:
    proxy = NatsProxy(nats_url)
    url = await proxy.start()
    yield proxy, url
    await proxy.close()
