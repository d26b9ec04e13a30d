"""Who may open a socket: tokens in a header or a subprotocol; refusals close with 4401."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devstack.keys import ensure_keypair
from shared.errors import CloseCode
from tests.component.ws_gateway.conftest import Sign, recv_json


async def _close_of(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await recv_json(ws)
    assert closed.value.rcvd is not None, "the server sent no close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_no_token_is_closed_with_4401_missing_token(start_gateway) -> None:
    gateway = await start_gateway()
    async with await gateway.connect() as ws:
        assert await _close_of(ws) == (CloseCode.UNAUTHORIZED, "missing token")


async def test_forged_token_is_closed_with_4401(
    start_gateway, sign: Sign, user_id: str, tmp_path
) -> None:
    gateway = await start_gateway()
    someone_elses_key = ensure_keypair(tmp_path / "forger")
    async with await gateway.connect(sign(user_id, pair=someone_elses_key)) as ws:
        code, reason = await _close_of(ws)

    assert code == CloseCode.UNAUTHORIZED
    assert reason.startswith("invalid token")


async def test_expired_token_is_closed_with_4401_token_expired(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id, ttl_s=-60)) as ws:
        assert await _close_of(ws) == (CloseCode.UNAUTHORIZED, "token expired")


async def test_garbage_token_is_closed_with_4401(start_gateway) -> None:
    gateway = await start_gateway()
    async with await gateway.connect("not-a-jwt") as ws:
        code, reason = await _close_of(ws)

    assert code == CloseCode.UNAUTHORIZED and reason.startswith("invalid token")


async def test_token_in_subprotocol_works_and_the_answer_is_agentwire_v1(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    offered = ["agentwire.v1", f"bearer.{sign(user_id)}"]
    async with connect(gateway.url, subprotocols=offered, compression=None) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "agentwire.v1"
        assert ws.response is not None
        assert "bearer." not in ws.response.headers.get("Sec-WebSocket-Protocol", "")
        await ws.send('{"type": "ping"}')
        assert await recv_json(ws) == {"type": "pong"}


async def test_refused_browser_still_gets_the_subprotocol_and_a_4401(start_gateway) -> None:
    gateway = await start_gateway()
    async with connect(gateway.url, subprotocols=["agentwire.v1"], compression=None) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "agentwire.v1"
        assert await _close_of(ws) == (CloseCode.UNAUTHORIZED, "missing token")
