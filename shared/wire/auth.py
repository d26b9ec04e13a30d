"""The auth service's HTTP bodies.

Text that reaches the database or a log is refused when it holds control characters (NUL above
all: PostgreSQL cannot store it, and it would turn a bad request into a 500 there only).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = [
    "AdminRevoke",
    "Credentials",
    "ErrorBody",
    "LoginCredentials",
    "PasswordChange",
    "RefreshRequest",
    "Registered",
    "TokenResponse",
]

Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3, max_length=254, pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$"
    ),
]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]
# Login and password checks do not re-apply the sign-up rules, so raising them never locks
# anyone out; no stored email can hold a control character, so refusing one here locks out none.
LoginEmail = Annotated[
    str, msgspec.Meta(min_length=1, max_length=254, pattern=r"^[^\x00-\x1f\x7f]+$")
]
LoginPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
# The form of a refresh token we issue (services/auth/refresh.py); anything else is not one.
RefreshTokenValue = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{32,128}$")]
UserId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Credentials(msgspec.Struct, kw_only=True):
    email: Email
    password: Password


class LoginCredentials(msgspec.Struct, kw_only=True):
    email: LoginEmail
    password: LoginPassword


class Registered(msgspec.Struct, kw_only=True):
    user_id: str
    email: str


class TokenResponse(msgspec.Struct, kw_only=True):
    """A new session or a refreshed one: login, refresh and password change all answer this."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    token_type: str = "bearer"


class RefreshRequest(msgspec.Struct, kw_only=True):
    """``POST /auth/refresh`` and ``POST /auth/logout``."""

    refresh_token: RefreshTokenValue


class PasswordChange(msgspec.Struct, kw_only=True):
    old_password: LoginPassword
    new_password: Password


class AdminRevoke(msgspec.Struct, kw_only=True):
    user_id: UserId


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx body: ``{"error": {"code", "message"}}``."""

    error: dict[str, str]
