"""Token renewal in the Python client, with a fake socket and a stub auth service: no server.

``token_expiring`` (or 80% of the token's lifetime) refreshes the session and sends an ``auth``
frame on the open socket; reconnects use the newest token; 4401 gets one refresh; a refused
refresh or a 4403 ends the client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from agentwire_client import AuthError, Client, Session, SessionRevoked, TokenPair, Unauthorized


class FakeSocket:
    """What the client uses of a websockets connection; the test delivers frames and closes."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[dict[str, Any] | tuple[int, str]] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason = ""

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str:
        item = await self.inbox.get()
        if isinstance(item, tuple):
            self.close_code, self.close_reason = item
            raise ConnectionClosed(Close(*item), None)
        return json.dumps(item)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.drop(code, reason)

    def deliver(self, frame: dict[str, Any]) -> None:
        self.inbox.put_nowait(frame)

    def drop(self, code: int, reason: str = "") -> None:
        self.inbox.put_nowait((code, reason))


class Connector:
    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []

    async def __call__(self, url: str, token: str) -> Any:
        self.sockets.append(FakeSocket(url, token))
        return self.sockets[-1]


class AuthStub:
    """/auth/refresh: pair n is A<n>/R<n>; ``refuse`` makes it answer 401."""

    def __init__(self, lifetime_s: float = 900, refuse: bool = False) -> None:
        self.spent: list[str] = []
        self.lifetime_s = lifetime_s
        self.refuse = refuse

    async def __call__(self, refresh_token: str) -> TokenPair:
        self.spent.append(refresh_token)
        await asyncio.sleep(0.01)
        if self.refuse:
            raise AuthError("invalid_refresh_token", "spent")
        n = len(self.spent)
        return TokenPair(f"A{n}", f"R{n}", time.time() + self.lifetime_s, self.lifetime_s)

    def session(self) -> Session:
        pair = TokenPair("A0", "R0", time.time() + self.lifetime_s, self.lifetime_s)
        return Session(pair, self)


async def until(condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


async def frames_until_end(client: Client) -> list[str]:
    async with asyncio.timeout(2):
        return [frame["type"] async for frame in client]


def client_for(session: Session, connector: Connector, **options: Any) -> Client:
    return Client("ws://gw/ws", session, connector=connector, backoff_base_s=0.01, **options)


async def test_token_expiring_refreshes_and_sends_an_auth_frame() -> None:
    auth, connector = AuthStub(), Connector()
    async with client_for(auth.session(), connector) as client:
        first = connector.sockets[0]
        first.deliver({"type": "token_expiring", "expires_at": 1, "grace_s": 30})
        first.deliver({"type": "token_expiring", "expires_at": 1, "grace_s": 30})
        await until(lambda: bool(first.sent))
        await asyncio.sleep(0.05)
        first.deliver({"type": "auth_ok", "expires_at": 2})
        first.drop(1006)
        await until(lambda: len(connector.sockets) == 2)

    assert auth.spent == ["R0"], "two warnings, one refresh"
    assert first.sent == [{"type": "auth", "token": "A1"}]
    assert [s.token for s in connector.sockets] == ["A0", "A1"], "reconnect with the newest"
    assert client.token == "A1"


async def test_the_token_is_renewed_at_80_percent_of_its_lifetime() -> None:
    auth, connector = AuthStub(lifetime_s=0.5), Connector()
    async with client_for(auth.session(), connector):
        await asyncio.sleep(0.25)
        early = list(auth.spent)
        await until(lambda: bool(connector.sockets[0].sent))

    assert early == []
    assert connector.sockets[0].sent[0] == {"type": "auth", "token": "A1"}


async def test_a_4401_gets_one_refresh_and_a_reconnect_then_the_client_gives_up() -> None:
    auth, connector = AuthStub(), Connector()
    client = client_for(auth.session(), connector)
    await client.connect()
    connector.sockets[0].drop(4401, "token expired")
    await until(lambda: len(connector.sockets) == 2)
    connector.sockets[1].drop(4401, "token expired")  # nothing heard in between: no loop
    with pytest.raises(Unauthorized):
        await frames_until_end(client)
    await client.close()

    assert auth.spent == ["R0"]
    assert [s.token for s in connector.sockets] == ["A0", "A1"]
    assert client.state == "unauthorized"


async def test_a_refused_refresh_ends_the_client_without_reconnecting() -> None:
    auth, connector = AuthStub(refuse=True), Connector()
    client = client_for(auth.session(), connector)
    await client.connect()
    connector.sockets[0].deliver({"type": "token_expiring", "expires_at": 1, "grace_s": 30})
    with pytest.raises(Unauthorized) as ended:
        await frames_until_end(client)
    await client.close()

    assert ended.value.code == "invalid_refresh_token"
    assert len(connector.sockets) == 1 and client.state == "unauthorized"


async def test_a_4403_ends_the_client_as_revoked() -> None:
    auth, connector = AuthStub(), Connector()
    client = client_for(auth.session(), connector)
    await client.connect()
    connector.sockets[0].drop(4403, "session revoked: logout")
    with pytest.raises(SessionRevoked):
        await frames_until_end(client)
    await client.close()

    assert auth.spent == [] and len(connector.sockets) == 1 and client.state == "revoked"


async def test_a_refused_auth_frame_does_not_fail_a_pending_request() -> None:
    auth, connector = AuthStub(), Connector()
    async with client_for(auth.session(), connector) as client:
        socket = connector.sockets[0]
        socket.deliver({"type": "token_expiring", "expires_at": 1, "grace_s": 30})
        await until(lambda: bool(socket.sent))
        threads = asyncio.create_task(client.list_threads())
        await until(lambda: len(socket.sent) == 2)
        socket.deliver({"type": "error", "data": {"code": "unauthorized", "message": "no"}})
        socket.deliver({"type": "threads", "threads": []})
        assert await threads == []


async def test_concurrent_refreshes_of_one_session_spend_the_token_once() -> None:
    auth = AuthStub()
    session = auth.session()
    pairs = await asyncio.gather(session.refresh("R0"), session.refresh("R0"), session.refresh())

    assert auth.spent == ["R0"]
    assert {p.access_token for p in pairs} == {"A1"}
