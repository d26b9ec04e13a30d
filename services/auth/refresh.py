"""Refresh-token values, and what is stored instead of them.

A refresh token is 32 random bytes (``secrets.token_urlsafe``, 43 characters), opaque to
clients. The database keeps only its SHA-256: someone who reads the table cannot use what they
read. A plain fast hash is enough here, unlike for passwords: 256 random bits cannot be guessed,
so there is nothing for a slow hash to slow down.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

__all__ = ["REFRESH_TOKEN_PATTERN", "hash_refresh_token", "new_refresh_token", "new_session_id"]

# Anything else is not one of ours, and is refused before any database lookup.
REFRESH_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{32,128}$"


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_session_id() -> str:
    """A refresh family's id, also the access tokens' ``sid``: a safe NATS subject token."""
    return uuid.uuid4().hex
