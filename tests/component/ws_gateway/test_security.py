"""The gateway as a front door: keys over NATS, revocation, expiry, browsers, limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devstack.keys import ensure_keypair
from shared.errors import CloseCode
from shared.wire.revocation import Revocation
from tests.component.ws_gateway.conftest import (
    FakeAuth,
    NatsProxy,
    Sign,
    eventually,
    recv_json,
    recv_until,
)


async def close_of(ws: ClientConnection, within: float = 5.0) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await recv_json(ws, within)
    assert closed.value.rcvd is not None, "the server sent no close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def ping(ws: ClientConnection) -> None:
    await ws.send('{"type": "ping"}')
    assert (await recv_until(ws, "pong"))[-1] == {"type": "pong"}


# Keys over NATS: rotation without restart, retirement


async def test_a_new_key_works_at_once_and_a_retired_key_stops_working(
    start_gateway, auth: FakeAuth, sign: Sign, user_id: str, tmp_path
) -> None:
    gateway = await start_gateway()
    new_pair = ensure_keypair(tmp_path / "next")
    auth.published.append(new_pair)  # rotated: the gateway hears of it on the first token

    async with await gateway.connect(sign(user_id, pair=new_pair)) as ws:
        await ping(ws)
    old_token = sign(user_id)
    auth.published = [new_pair]
    await auth.announce()  # the old key retired
    await asyncio.sleep(0.2)
    async with await gateway.connect(old_token) as ws:
        code, reason = await close_of(ws)

    assert (code, reason) == (CloseCode.UNAUTHORIZED, "invalid token: unknown key id")


# Revocation


async def test_a_revocation_closes_the_sessions_sockets_within_a_second_with_4403(
    start_gateway, auth: FakeAuth, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    revoked_token = sign(user_id, session_id="s-revoked")
    async with (
        await gateway.connect(revoked_token) as revoked,
        await gateway.connect(sign(user_id, session_id="s-kept")) as kept,
    ):
        await ping(revoked)
        await ping(kept)
        started = time.monotonic()
        await auth.revoke(
            Revocation(user_id=user_id, reason="logout", not_before=0, session_id="s-revoked")
        )
        code, reason = await close_of(revoked, within=2)
        assert time.monotonic() - started < 1.0
        await ping(kept)  # another session of the same user goes on

    assert (code, reason) == (CloseCode.SESSION_REVOKED, "session revoked: logout")
    async with await gateway.connect(revoked_token) as again:  # and cannot come back
        assert await close_of(again) == (CloseCode.SESSION_REVOKED, "session revoked: logout")


async def test_a_revocation_published_while_the_gateway_was_cut_off_closes_the_socket_after(
    start_gateway,
    nats_proxy: tuple[NatsProxy, str],
    auth: FakeAuth,
    sign: Sign,
    user_id: str,
) -> None:
    proxy, proxied_url = nats_proxy
    gateway = await start_gateway(NATS_URL=proxied_url)
    gateway_nats = gateway.server.node.nc
    token = sign(user_id, session_id="s-missed")
    async with await gateway.connect(token) as ws:
        await ping(ws)
        proxy.cut()
        await eventually(lambda: not gateway_nats.is_connected)
        await auth.revoke(
            Revocation(user_id=user_id, reason="logout", not_before=0, session_id="s-missed")
        )
        proxy.restore()

        assert await close_of(ws, within=20) == (
            CloseCode.SESSION_REVOKED,
            "session revoked: logout",
        )


async def test_a_gateway_started_after_a_revocation_refuses_the_tokens_it_covers(
    start_gateway, auth: FakeAuth, sign: Sign, user_id: str
) -> None:
    await auth.revoke(Revocation(user_id=user_id, reason="logout", not_before=0, session_id="s-1"))
    gateway = await start_gateway()  # as after a restart: it never heard the revocation live

    async with await gateway.connect(sign(user_id, session_id="s-1")) as revoked:
        assert await close_of(revoked) == (CloseCode.SESSION_REVOKED, "session revoked: logout")
    async with await gateway.connect(sign(user_id, session_id="s-2")) as other:
        await ping(other)  # another session of the same user is not touched


async def test_a_password_change_closes_older_tokens_and_refuses_them_in_an_auth_frame(
    start_gateway, auth: FakeAuth, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    now = int(time.time())
    old_token = sign(user_id, issued_at=now - 10)
    async with await gateway.connect(sign(user_id, issued_at=now + 2)) as newer:
        await auth.revoke(Revocation(user_id=user_id, reason="password_changed", not_before=now))
        await asyncio.sleep(0.2)
        await ping(newer)
        await newer.send(json.dumps({"type": "auth", "token": old_token}))
        frames = await recv_until(newer, "error")
        code, _ = await close_of(newer)

    assert frames[-1]["data"]["code"] == "session_revoked"
    assert code == CloseCode.SESSION_REVOKED


# Expiry on a long-lived socket


async def test_an_auth_frame_with_a_fresh_token_keeps_the_socket(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(TOKEN_EXPIRY_GRACE_S="0", TOKEN_EXPIRY_WARNING_S="0")
    async with await gateway.connect(sign(user_id, ttl_s=2)) as ws:
        fresh = sign(user_id, ttl_s=600)
        await ws.send(json.dumps({"type": "auth", "token": fresh}))
        ok = await recv_until(ws, "auth_ok")
        await asyncio.sleep(3.5)  # past the first token's exp and a timer tick or two
        await ping(ws)

    assert ok[-1]["expires_at"] > time.time() + 500


async def test_an_unrenewed_token_is_warned_then_closed_4401_after_the_grace(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(TOKEN_EXPIRY_GRACE_S="1", TOKEN_EXPIRY_WARNING_S="60")
    async with await gateway.connect(sign(user_id, ttl_s=2)) as ws:
        warning = await recv_json(ws, within=3)
        code, reason = await close_of(ws, within=8)

    assert warning["type"] == "token_expiring" and warning["grace_s"] == 1
    assert (code, reason) == (CloseCode.UNAUTHORIZED, "token expired")


async def test_an_auth_frame_with_another_users_token_gets_an_error_then_4401(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with await gateway.connect(sign(user_id)) as ws:
        await ws.send(json.dumps({"type": "auth", "token": sign("someone-else")}))
        error = await recv_until(ws, "error")
        code, reason = await close_of(ws)

    assert error[-1]["data"]["code"] == "unauthorized"
    assert (code, reason) == (CloseCode.UNAUTHORIZED, "token of another user")


# Browsers: origin, subprotocol, no token in URLs or logs


async def test_a_foreign_origin_is_refused_with_403_and_the_own_origin_works(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    headers = {"Authorization": f"Bearer {sign(user_id)}"}
    with pytest.raises(InvalidStatus) as refused:
        await connect(gateway.url, origin="https://evil.example", additional_headers=headers)  # type: ignore[arg-type]
    own = gateway.http_url
    async with connect(gateway.url, origin=own, additional_headers=headers) as ws:  # type: ignore[arg-type]
        await ping(ws)

    assert refused.value.response.status_code == 403


async def test_an_allow_list_admits_its_origins(start_gateway, sign: Sign, user_id: str) -> None:
    gateway = await start_gateway(ALLOWED_ORIGINS="https://app.example.com")
    headers = {"Authorization": f"Bearer {sign(user_id)}"}
    async with connect(
        gateway.url,
        origin="https://app.example.com",  # type: ignore[arg-type]
        additional_headers=headers,
    ) as ws:
        await ping(ws)


async def test_a_token_in_the_url_is_refused_with_a_clear_reason(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway()
    async with connect(f"{gateway.url}?token={sign(user_id)}") as ws:
        code, reason = await close_of(ws)

    assert code == CloseCode.UNAUTHORIZED and reason.startswith("tokens are refused in the URL")


async def test_tokens_never_reach_the_log_nor_the_subprotocol_answer(
    start_gateway, sign: Sign, user_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = await start_gateway()
    good, expired, in_url = sign(user_id), sign(user_id, ttl_s=-60), sign(user_id)
    offered = ["agentwire.v1", f"bearer.{good}"]
    async with connect(gateway.url, subprotocols=offered) as ws:  # type: ignore[arg-type]
        await ping(ws)
        await ws.send(json.dumps({"type": "auth", "token": good}))
        await recv_until(ws, "auth_ok")
        answer = ws.response.headers.get("Sec-WebSocket-Protocol") if ws.response else None
    async with await gateway.connect(expired) as ws:
        await close_of(ws)
    async with connect(f"{gateway.url}?token={in_url}") as ws:
        await close_of(ws)

    # The test's own websockets client logs its request headers: only the server side counts.
    server_side = [r for r in caplog.records if not r.name.startswith("websockets.client")]
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in server_side)
    assert answer == "agentwire.v1"
    assert "refused" in logged, "the refusals were not logged: the test would prove nothing"
    for token in (good, expired, in_url):
        for part in token.split("."):
            assert part not in logged


# Limits


async def test_connections_over_the_per_user_limit_are_closed_4429(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(MAX_CONNECTIONS_PER_USER="2")
    token = sign(user_id)
    async with await gateway.connect(token) as one, await gateway.connect(token) as two:
        await ping(one)
        await ping(two)
        async with await gateway.connect(token) as three:
            assert await close_of(three) == (CloseCode.TOO_MANY_REQUESTS, "too many connections")
        async with await gateway.connect(sign("another-user")) as other:
            await ping(other)


async def test_frames_over_the_rate_get_rate_limited_and_a_flood_is_closed_4429(
    start_gateway, sign: Sign, user_id: str
) -> None:
    gateway = await start_gateway(
        MESSAGES_PER_SECOND="5", MESSAGE_BURST="3", RATE_LIMIT_CLOSE_AFTER="20"
    )
    async with await gateway.connect(sign(user_id)) as ws:
        for _ in range(4):
            await ws.send('{"type": "ping"}')
        answers = [await recv_json(ws) for _ in range(4)]
        assert answers[-1]["data"]["code"] == "rate_limited"
        with contextlib.suppress(ConnectionClosed):  # the close may overtake our sends
            for _ in range(200):
                await ws.send('{"type": "ping"}')
        code, reason = await close_of(ws)

    assert (code, reason) == (CloseCode.TOO_MANY_REQUESTS, "too many messages")
