"""The auth service's HTTP calls (docs/protocol.md, section 1)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from agentwire_client.errors import AuthError

__all__ = ["TokenPair", "login", "login_pair", "logout", "refresh", "register"]


@dataclass(frozen=True)
class TokenPair:
    """An access token and the refresh token that gets its successor (which works once)."""

    access_token: str
    refresh_token: str
    expires_at: float  # unix seconds
    lifetime_s: float

    @classmethod
    def from_body(cls, body: dict[str, Any], now: float | None = None) -> TokenPair:
        lifetime = float(body["expires_in"])
        issued = time.time() if now is None else now
        return cls(body["access_token"], body["refresh_token"], issued + lifetime, lifetime)


async def _auth_post(auth_url: str, path: str, payload: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=auth_url, timeout=10) as http:
        response = await http.post(path, json=payload)
    body = response.json() if response.content else {}
    if response.is_error:
        error = body.get("error") or {"code": f"http_{response.status_code}", "message": ""}
        raise AuthError(error["code"], error["message"])
    return dict(body)


async def register(auth_url: str, email: str, password: str) -> dict[str, Any]:
    """Create an account: ``{"user_id", "email"}``; AuthError ``email_taken`` if it exists."""
    return await _auth_post(auth_url, "/auth/register", {"email": email, "password": password})


async def login_pair(auth_url: str, email: str, password: str) -> TokenPair:
    """Log in: the session's first token pair (give it to a ``Session`` to have it renewed)."""
    body = await _auth_post(auth_url, "/auth/login", {"email": email, "password": password})
    return TokenPair.from_body(body)


async def login(auth_url: str, email: str, password: str) -> str:
    """Just an access token for the account (good for its lifetime, 15 minutes by default)."""
    return (await login_pair(auth_url, email, password)).access_token


async def refresh(auth_url: str, refresh_token: str) -> TokenPair:
    """The next pair. Spends ``refresh_token``: using it again ends the whole session."""
    body = await _auth_post(auth_url, "/auth/refresh", {"refresh_token": refresh_token})
    return TokenPair.from_body(body)


async def logout(auth_url: str, refresh_token: str) -> None:
    """End the session: its refresh token stops working, its sockets close with 4403."""
    await _auth_post(auth_url, "/auth/logout", {"refresh_token": refresh_token})
