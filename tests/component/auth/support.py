"""What the auth component tests do over and over: sign up, log in, read an error body."""

from __future__ import annotations

from typing import Any

from httpx import Response
from litestar.testing import AsyncTestClient

__all__ = [
    "EMAIL",
    "PASSWORD",
    "assert_error",
    "bearer",
    "log_in",
    "register",
    "sign_up_and_log_in",
]

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"


async def register(
    client: AsyncTestClient, email: str = EMAIL, password: str = PASSWORD
) -> Response:
    return await client.post("/auth/register", json={"email": email, "password": password})


async def log_in(client: AsyncTestClient, email: str = EMAIL, password: str = PASSWORD) -> Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def sign_up_and_log_in(
    client: AsyncTestClient, email: str = EMAIL, password: str = PASSWORD
) -> tuple[str, dict[str, Any]]:
    """Register and log in; return the user id and the token pair body."""
    registered = await register(client, email, password)
    assert registered.status_code == 201, registered.text
    response = await log_in(client, email, password)
    assert response.status_code == 200, response.text
    return registered.json()["user_id"], response.json()


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def assert_error(response: Response, status: int, code: str) -> str:
    """The response is ``status`` with the error body shape and ``code``; return its message."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return error["message"]
