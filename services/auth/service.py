"""Accounts and sessions as plain async logic, with no HTTP and no SQL in sight.

A session is a refresh-token family: a login starts one, every refresh rotates its token, and
logout, a reused token, a password change or an admin revoke ends it (see docs/security.md).
Failures are :class:`~shared.errors.AgentwireError` subclasses carrying the wire code; the HTTP
edge turns each code into a status and an ``{"error": {"code", "message"}}`` body.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from services.auth.bus import Notifier
from services.auth.passwords import PasswordHasher
from services.auth.ratelimit import LoginLimiter
from services.auth.refresh import hash_refresh_token, new_refresh_token, new_session_id
from services.auth.refresh_repository import RefreshRepository, RotationOutcome
from services.auth.repository import DuplicateEmail, StoredUser, UserRepository
from services.auth.tokens import IssuedToken, TokenIssuer
from shared.errors import AgentwireError, ErrorCode, Unauthorized
from shared.subjects import check_token
from shared.tokens import AccessClaims
from shared.wire.revocation import Revocation, RevocationReason

__all__ = [
    "AuthService",
    "EmailTaken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "InvalidRequest",
    "TokenPair",
    "UserNotFound",
    "normalise_email",
]

log = logging.getLogger(__name__)

# One message for an unknown email and a wrong password, so neither reveals which accounts exist.
_WRONG_CREDENTIALS = "wrong email or password"
_REFUSED_REFRESH = {
    RotationOutcome.UNKNOWN: "unknown refresh token",
    RotationOutcome.REUSED: "refresh token already used: its session is revoked, log in again",
    RotationOutcome.REVOKED: "session revoked: log in again",
    RotationOutcome.EXPIRED: "refresh token expired: log in again",
}


class EmailTaken(AgentwireError):
    code = ErrorCode.EMAIL_TAKEN


class InvalidCredentials(AgentwireError):
    code = ErrorCode.INVALID_CREDENTIALS


class InvalidRequest(AgentwireError):
    code = ErrorCode.INVALID_REQUEST


class InvalidRefreshToken(AgentwireError):
    code = ErrorCode.INVALID_REFRESH_TOKEN


class UserNotFound(AgentwireError):
    code = ErrorCode.USER_NOT_FOUND


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and ignore stray spaces, so store one spelling."""
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class TokenPair:
    access: IssuedToken
    refresh_token: str = field(repr=False)
    refresh_expires_in: int
    session_id: str


class AuthService:
    def __init__(
        self,
        *,
        users: UserRepository,
        sessions: RefreshRepository,
        passwords: PasswordHasher,
        tokens: TokenIssuer,
        notifier: Notifier,
        limiter: LoginLimiter,
        refresh_ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._passwords = passwords
        self._tokens = tokens
        self._notifier = notifier
        self._limiter = limiter
        self._refresh_ttl_s = refresh_ttl_s
        self._clock = clock

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

    async def login(self, email: str, password: str, *, address: str) -> TokenPair:
        """Start a session, or raise InvalidCredentials not saying which part was wrong.

        Raises RateLimited once the account or the address has failed too often. Attempts
        on one account or from one address that would together overrun its limit wait for
        each other (see services/auth/ratelimit.py) rather than being refused.
        """
        email = normalise_email(email)
        async with self._limiter.attempt(email, address) as attempt:
            user = await self._users.find_by_email(email)
            stored_hash = user.password_hash if user is not None else None
            if not await self._passwords.verify(stored_hash, password) or user is None:
                attempt.failed()
                raise InvalidCredentials(_WRONG_CREDENTIALS)
        log.info("login user_id=%s", user.id)
        return await self._start_session(user.id, user.tokens_valid_from)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: spend ``refresh_token`` and return its successor with a new access token.

        A token spent before means someone else holds a copy: its whole family is revoked, the
        revocation published, and InvalidRefreshToken raised.
        """
        now, successor = self._clock(), new_refresh_token()
        rotation = await self._sessions.rotate(
            hash_refresh_token(refresh_token),
            new_hash=hash_refresh_token(successor),
            now=now,
            expires_at=now + self._refresh_ttl_s,
        )
        if rotation.outcome is RotationOutcome.REUSED:
            log.warning("refresh token reused: user_id=%s session revoked", rotation.user_id)
            await self._announce(
                rotation.user_id, RevocationReason.REFRESH_REUSED, now, rotation.family_id
            )
        if rotation.outcome is not RotationOutcome.ROTATED:
            raise InvalidRefreshToken(_REFUSED_REFRESH[rotation.outcome])
        access = self._tokens.issue(
            rotation.user_id, session_id=rotation.family_id, valid_from=rotation.tokens_valid_from
        )
        return TokenPair(access, successor, self._refresh_ttl_s, rotation.family_id)

    async def logout(self, refresh_token: str) -> None:
        """End the session of ``refresh_token`` (any token of it, spent or not). Idempotent."""
        now = self._clock()
        revoked = await self._sessions.revoke_family_of(
            hash_refresh_token(refresh_token), now=now, reason=RevocationReason.LOGOUT
        )
        if revoked is None:
            raise InvalidRefreshToken(_REFUSED_REFRESH[RotationOutcome.UNKNOWN])
        if revoked.newly_revoked:
            log.info("logout user_id=%s", revoked.user_id)
            await self._announce(revoked.user_id, RevocationReason.LOGOUT, now, revoked.family_id)

    async def change_password(
        self, claims: AccessClaims, old_password: str, new_password: str, *, address: str
    ) -> TokenPair:
        """Check the old password, store the new one, end every session; return a new one.

        ``claims`` are the caller's verified access token. This service is the one place that
        knows about revocations for sure, so a token of an ended session is refused here even
        before it expires.
        """
        user = await self._users.find_by_id(claims.user_id)
        if user is None:
            raise Unauthorized("no such account")
        if claims.issued_at < user.tokens_valid_from or not (
            claims.session_id and await self._sessions.is_live(claims.session_id)
        ):
            raise Unauthorized("token revoked: log in again")
        user_id = user.id
        # The same budget as logging in: a stolen access token is no way around the login limit.
        async with self._limiter.attempt(user.email, address) as attempt:
            if not await self._passwords.verify(user.password_hash, old_password):
                attempt.failed()
                raise InvalidCredentials("old_password: wrong password")
        new_hash = await self._passwords.hash(new_password)
        valid_from = await self._revoke_user(
            user_id, RevocationReason.PASSWORD_CHANGED, password_hash=new_hash
        )
        return await self._start_session(user_id, valid_from)

    async def revoke_user(self, user_id: str) -> None:
        """An administrator's revoke: end every session and cut off every access token."""
        await self._revoke_user(user_id, RevocationReason.ADMIN)

    async def _revoke_user(
        self, user_id: str, reason: RevocationReason, *, password_hash: str | None = None
    ) -> int:
        now = self._clock()
        # The next whole second: every token issued so far has an earlier ``iat``, every later
        # one is issued with ``iat`` at least this (see services/auth/tokens.py).
        valid_from = int(now) + 1
        found = await self._sessions.revoke_user(
            user_id, now=now, reason=reason, valid_from=valid_from, password_hash=password_hash
        )
        if not found:
            raise UserNotFound("no such user")
        log.info("revoked every session of user_id=%s (%s)", user_id, reason.value)
        await self._notifier.revoked(
            Revocation(user_id=user_id, reason=reason, not_before=valid_from)
        )
        return valid_from

    async def _announce(
        self, user_id: str, reason: RevocationReason, now: float, session_id: str
    ) -> None:
        revocation = Revocation(
            user_id=user_id, reason=reason, not_before=int(now), session_id=session_id
        )
        await self._notifier.revoked(revocation)

    async def _start_session(self, user_id: str, valid_from: int) -> TokenPair:
        now, session_id, refresh_token = self._clock(), new_session_id(), new_refresh_token()
        await self._sessions.start_family(
            user_id=user_id,
            family_id=session_id,
            token_hash=hash_refresh_token(refresh_token),
            now=now,
            expires_at=now + self._refresh_ttl_s,
        )
        access = self._tokens.issue(user_id, session_id=session_id, valid_from=valid_from)
        return TokenPair(access, refresh_token, self._refresh_ttl_s, session_id)
