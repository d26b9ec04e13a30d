"""Registering and logging in, as plain async logic with no HTTP and no SQL in sight.

Failures are :class:`~shared.errors.AgentwireError` subclasses carrying the wire code; the HTTP
edge turns each code into a status and an ``{"error": {"code", "message"}}`` body.
"""

from __future__ import annotations

import logging
import uuid

from services.auth.passwords import PasswordHasher
from services.auth.repository import DuplicateEmail, StoredUser, UserRepository
from services.auth.tokens import IssuedToken, TokenIssuer
from shared.errors import AgentwireError, ErrorCode
from shared.subjects import check_token

__all__ = [
    "AuthService",
    "EmailTaken",
    "InvalidCredentials",
    "InvalidRequest",
    "normalise_email",
]

log = logging.getLogger(__name__)

# One message for an unknown email and a wrong password, so neither reveals which accounts exist.
_WRONG_CREDENTIALS = "wrong email or password"


class EmailTaken(AgentwireError):
    code = ErrorCode.EMAIL_TAKEN


class InvalidCredentials(AgentwireError):
    code = ErrorCode.INVALID_CREDENTIALS


class InvalidRequest(AgentwireError):
    code = ErrorCode.INVALID_REQUEST


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and ignore stray spaces, so store one spelling."""
    return email.strip().lower()


class AuthService:
    def __init__(
        self, users: UserRepository, passwords: PasswordHasher, tokens: TokenIssuer
    ) -> None:
        self._users = users
        self._passwords = passwords
        self._tokens = tokens

    async def register(self, email: str, password: str) -> StoredUser:
        """Create an account; raise EmailTaken if the (normalised) email already has one."""
        email = normalise_email(email)
        # uuid4 hex is 32 characters of [0-9a-f]: always a safe NATS subject token.
        user_id = check_token(uuid.uuid4().hex, "user id")
        password_hash = await self._passwords.hash(password)
        user = StoredUser(id=user_id, email=email, password_hash=password_hash)
        try:
            await self._users.add(user)
        except DuplicateEmail:
            raise EmailTaken("an account with this email already exists") from None
        log.info("registered user_id=%s", user_id)
        return user

    async def login(self, email: str, password: str) -> IssuedToken:
        """Return an access token, or raise InvalidCredentials not saying which part was wrong."""
        user = await self._users.find_by_email(normalise_email(email))
        stored_hash = user.password_hash if user is not None else None
        if not await self._passwords.verify(stored_hash, password) or user is None:
            raise InvalidCredentials(_WRONG_CREDENTIALS)
        log.info("login user_id=%s", user.id)
        return self._tokens.issue(user.id)
