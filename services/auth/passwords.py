"""Password hashing with argon2id, run in a worker thread.

An argon2 hash or verify takes tens of milliseconds of CPU on purpose; run on the event loop it
would stall every other request, so both go through :func:`asyncio.to_thread`.

Unknown emails are checked against a dummy hash, so a login for an account that does not exist
costs the same time as a wrong password and response timing does not reveal which emails exist.
"""

from __future__ import annotations

import asyncio
import secrets

import argon2
from argon2.exceptions import VerificationError

__all__ = ["PasswordHasher"]


class PasswordHasher:
    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        # Made up front (one hash, at start-up) so even the first unknown-email login costs
        # one verify, like every other.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches ``stored_hash``; with no hash, spend the time and say no."""
        if stored_hash is None:
            await asyncio.to_thread(self._verify, self._dummy_hash, password)
            return False
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except VerificationError:
            return False
