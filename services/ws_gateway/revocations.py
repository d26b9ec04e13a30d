"""Revocations this gateway has heard of, kept long enough to refuse the tokens they cover.

A revoked access token stays cryptographically valid until its ``exp``; the auth service only
publishes the revocation once (``auth.revoked.<user_id>``). Open sockets are closed when it
arrives; this list is what stops the same token from opening a new socket (or renewing one)
afterwards. Each entry is kept for ``remember_s``: one access-token lifetime plus leeway, after
which every token it could cover has expired anyway.

Memory stays bounded per user: the ``iat`` cut-off rule keeps only the latest cut-off (a later
one covers everything an earlier one did), and session revocations are capped per user (oldest
forgotten first; the auth service refuses to refresh those sessions regardless).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.tokens import AccessClaims
from shared.wire.revocation import Revocation

__all__ = ["DEFAULT_REMEMBER_S", "RevocationList"]

DEFAULT_REMEMBER_S = 960.0  # the default access-token lifetime (900 s) plus leeway
_MAX_SESSIONS_PER_USER = 256


@dataclass(slots=True)
class _UserRevocations:
    cut_off: Revocation | None = None  # the latest "every token issued before" rule
    cut_off_until: float = 0.0
    sessions: OrderedDict[str, tuple[Revocation, float]] = field(default_factory=OrderedDict)


class RevocationList:
    def __init__(
        self, remember_s: float = DEFAULT_REMEMBER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._remember_s = remember_s
        self._clock = clock
        self._users: dict[str, _UserRevocations] = {}

    def __len__(self) -> int:
        return len(self._users)

    def add(self, revocation: Revocation) -> None:
        until = self._clock() + self._remember_s
        user = self._users.setdefault(revocation.user_id, _UserRevocations())
        if revocation.session_id is not None:
            user.sessions[revocation.session_id] = (revocation, until)
            user.sessions.move_to_end(revocation.session_id)
            while len(user.sessions) > _MAX_SESSIONS_PER_USER:
                user.sessions.popitem(last=False)
            return
        if user.cut_off is None or revocation.not_before >= user.cut_off.not_before:
            user.cut_off = revocation
        user.cut_off_until = until

    def covering(self, claims: AccessClaims) -> Revocation | None:
        """The remembered revocation that covers a token with these claims, if any."""
        user = self._users.get(claims.user_id)
        if user is None:
            return None
        now = self._clock()
        if user.cut_off is not None and now < user.cut_off_until:
            if user.cut_off.revokes(issued_at=claims.issued_at, session_id=None):
                return user.cut_off
        if claims.session_id is not None:
            entry = user.sessions.get(claims.session_id)
            if entry is not None and now < entry[1]:
                return entry[0]
        return None

    def prune(self) -> None:
        """Forget what has outlived every token it could cover (the node's timer calls this)."""
        now = self._clock()
        for user_id, user in tuple(self._users.items()):
            if user.cut_off is not None and now >= user.cut_off_until:
                user.cut_off = None
            while user.sessions:
                _, (_, until) = next(iter(user.sessions.items()))
                if now < until:
                    break
                user.sessions.popitem(last=False)
            if user.cut_off is None and not user.sessions:
                del self._users[user_id]
