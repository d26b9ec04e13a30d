"""The auth service's HTTP calls (docs/protocol.md, section 1)."""

from __future__ import annotations

from typing import Any

import httpx

from agentwire_client.errors import AuthError

__all__ = ["login", "register"]


async def _auth_post(auth_url: str, path: str, email: str, password: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=auth_url, timeout=10) as http:
        response = await http.post(path, json={"email": email, "password": password})
    body = response.json() if response.content else {}
    if response.is_error:
        error = body.get("error") or {"code": f"http_{response.status_code}", "message": ""}
        raise AuthError(error["code"], error["message"])
    return dict(body)


async def register(auth_url: str, email: str, password: str) -> dict[str, Any]:
    """Create an account: ``{"user_id", "email"}``; AuthError ``email_taken`` if it exists."""
    return await _auth_post(auth_url, "/auth/register", email, password)


async def login(auth_url: str, email: str, password: str) -> str:
    """An access token for the account."""
    return str((await _auth_post(auth_url, "/auth/login", email, password))["access_token"])
