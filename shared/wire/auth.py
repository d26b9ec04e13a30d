"""The auth service's HTTP bodies."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["Credentials", "ErrorBody", "LoginCredentials", "Registered", "TokenResponse"]

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=1024)]


class Credentials(msgspec.Struct, kw_only=True):
    email: Email
    password: Password


class LoginCredentials(msgspec.Struct, kw_only=True):
    """Login does not re-apply the sign-up rules, so raising them never locks anyone out."""

    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class Registered(msgspec.Struct, kw_only=True):
    user_id: str
    email: str


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: str
    expires_in: int
    token_type: str = "bearer"


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every 4xx/5xx body: ``{"error": {"code", "message"}}``."""

    error: dict[str, str]
