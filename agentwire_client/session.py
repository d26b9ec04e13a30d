"""A login session whose tokens renew: the newest pair, and one refresh at a time.

A refresh token works once (docs/protocol.md, section 1): a second use ends the session. So
everything sharing a ``Session`` (clients, tasks) refreshes through ``refresh(spent)``, which
holds a lock and, when the pair has already moved past ``spent``, just returns the newer one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agentwire_client import auth
from agentwire_client.auth import TokenPair

__all__ = ["Logouter", "Refresher", "Session"]

Refresher = Callable[[str], Awaitable[TokenPair]]  # refresh token -> the next pair
Logouter = Callable[[str], Awaitable[None]]  # refresh token -> the session is ended


class Session:
    def __init__(
        self, pair: TokenPair, refresher: Refresher, logouter: Logouter | None = None
    ) -> None:
        self.pair = pair
        self._refresher = refresher
        self._logouter = logouter
        self._lock = asyncio.Lock()
        self.refreshes = 0  # pairs fetched from the auth service so far

    @classmethod
    async def login(cls, auth_url: str, email: str, password: str) -> Session:
        pair = await auth.login_pair(auth_url, email, password)
        return cls.for_auth_url(auth_url, pair)

    @classmethod
    def for_auth_url(cls, auth_url: str, pair: TokenPair) -> Session:
        async def refresher(token: str) -> TokenPair:
            return await auth.refresh(auth_url, token)

        async def logouter(token: str) -> None:
            await auth.logout(auth_url, token)

        return cls(pair, refresher, logouter)

    @property
    def access_token(self) -> str:
        return self.pair.access_token

    async def refresh(self, spent: str | None = None) -> TokenPair:
        """The pair after ``spent`` (default: the current one), fetched only if still needed.
        Raises AuthError when the auth service refuses (the session is over)."""
        spent = spent or self.pair.refresh_token
        async with self._lock:
            if self.pair.refresh_token == spent:
                self.pair = await self._refresher(spent)
                self.refreshes += 1
            return self.pair

    async def logout(self) -> None:
        if self._logouter is not None:
            await self._logouter(self.pair.refresh_token)
