"""Refresh tokens and their families (login sessions), and user-wide revocation.

Every state change is a conditional UPDATE (``... WHERE spent_at IS NULL``), so two requests
racing with one token cannot both win, on SQLite (one writer at a time) as on PostgreSQL (the
loser's UPDATE re-reads the row and matches nothing): the loser is treated as a reuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.auth.models import RefreshFamily, RefreshToken, User

__all__ = ["FamilyRevocation", "RefreshRepository", "Rotation", "RotationOutcome"]


class RotationOutcome(Enum):
    ROTATED = "rotated"  # the token was live: it is spent now, and its successor stored
    UNKNOWN = "unknown"  # no such token
    REUSED = "reused"  # already spent: its family is revoked by this very call
    REVOKED = "revoked"  # its family was already revoked (logout, reuse, password change)
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Rotation:
    outcome: RotationOutcome
    user_id: str = ""
    family_id: str = ""
    tokens_valid_from: int = 0


@dataclass(frozen=True, slots=True)
class FamilyRevocation:
    user_id: str
    family_id: str
    newly_revoked: bool  # False if it was revoked already (a second logout)


_NOT_SYNCED = {"synchronize_session": False}  # no ORM objects are loaded that could go stale


class RefreshRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def start_family(
        self, *, user_id: str, family_id: str, token_hash: str, now: float, expires_at: float
    ) -> None:
        """A new session with its first refresh token."""
        async with self._sessions.begin() as session:
            session.add(RefreshFamily(id=family_id, user_id=user_id, created_at=now))
            await session.flush()  # the family row first: the token's foreign key points at it
            session.add(_token(token_hash, family_id, user_id, now, expires_at))

    async def rotate(
        self, token_hash: str, *, new_hash: str, now: float, expires_at: float
    ) -> Rotation:
        """Spend ``token_hash`` and store ``new_hash`` in its family, or say why not."""
        async with self._sessions.begin() as session:
            spent = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == token_hash, RefreshToken.spent_at.is_(None))
                .values(spent_at=now)
                .returning(RefreshToken.family_id, RefreshToken.user_id, RefreshToken.expires_at)
                .execution_options(**_NOT_SYNCED)
            )
            row = spent.one_or_none()
            if row is None:
                return await _refuse(session, token_hash, now)
            family_id, user_id, token_expires_at = row
            family = await session.get(RefreshFamily, family_id)
            if family is None or family.revoked_at is not None:
                return Rotation(RotationOutcome.REVOKED, user_id, family_id)
            if token_expires_at <= now:
                return Rotation(RotationOutcome.EXPIRED, user_id, family_id)
            session.add(_token(new_hash, family_id, user_id, now, expires_at))
            user = await session.get(User, user_id)
            valid_from = user.tokens_valid_from if user is not None else 0
            return Rotation(RotationOutcome.ROTATED, user_id, family_id, valid_from or 0)

    async def is_live(self, family_id: str) -> bool:
        """Whether the session exists and has not been revoked."""
        async with self._sessions() as session:
            family = await session.get(RefreshFamily, family_id)
        return family is not None and family.revoked_at is None

    async def revoke_family_of(
        self, token_hash: str, *, now: float, reason: str
    ) -> FamilyRevocation | None:
        """Revoke the family of any of its tokens, spent or not; None if the token is unknown."""
        async with self._sessions.begin() as session:
            token = await session.get(RefreshToken, token_hash)
            if token is None:
                return None
            newly = await _revoke_family(session, token.family_id, now, reason)
            return FamilyRevocation(token.user_id, token.family_id, newly)

    async def revoke_user(
        self,
        user_id: str,
        *,
        now: float,
        reason: str,
        valid_from: int,
        password_hash: str | None = None,
    ) -> bool:
        """Revoke every family of the user and cut off older access tokens; False if no user.

        ``password_hash``, when given, is stored in the same transaction: a password change and
        the revocation it implies happen together or not at all.
        """
        # Never move the cut-off back (two auth processes with slightly different clocks).
        values: dict = {
            "tokens_valid_from": case(
                (User.tokens_valid_from < valid_from, valid_from), else_=User.tokens_valid_from
            )
        }
        if password_hash is not None:
            values["password_hash"] = password_hash
        async with self._sessions.begin() as session:
            updated = await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(values)
                .execution_options(**_NOT_SYNCED)
            )
            if updated.rowcount == 0:
                return False
            await session.execute(
                update(RefreshFamily)
                .where(RefreshFamily.user_id == user_id, RefreshFamily.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
                .execution_options(**_NOT_SYNCED)
            )
            return True


def _token(token_hash: str, family_id: str, user_id: str, now: float, expires_at: float):
    return RefreshToken(
        token_hash=token_hash,
        family_id=family_id,
        user_id=user_id,
        issued_at=now,
        expires_at=expires_at,
    )


async def _refuse(session: AsyncSession, token_hash: str, now: float) -> Rotation:
    """The token could not be spent: unknown, or spent before, which revokes its family."""
    token = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash))
    if token is None:
        return Rotation(RotationOutcome.UNKNOWN)
    if await _revoke_family(session, token.family_id, now, "refresh_reused"):
        return Rotation(RotationOutcome.REUSED, token.user_id, token.family_id)
    return Rotation(RotationOutcome.REVOKED, token.user_id, token.family_id)


async def _revoke_family(session: AsyncSession, family_id: str, now: float, reason: str) -> bool:
    """Mark the family revoked; True if this call did it (it was not revoked already)."""
    result = await session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.id == family_id, RefreshFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(**_NOT_SYNCED)
    )
    return result.rowcount == 1
