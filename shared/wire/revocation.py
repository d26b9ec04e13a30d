"""Revocations the auth service publishes on ``auth.revoked.<user_id>`` (core NATS, no reply).

Which access tokens of ``user_id`` a message revokes:

- ``session_id`` set (logout, refresh-token reuse): every token whose ``sid`` claim equals it.
  ``not_before`` is then just the time of the revocation.
- ``session_id`` null (password change, admin revoke): every token whose ``iat`` is earlier than
  ``not_before``. The auth service issues no token of that user with an earlier ``iat`` again.

A gateway that ignores ``session_id`` and applies the ``iat`` rule to every message fails safe:
it closes more sockets than needed, never fewer.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

__all__ = ["Revocation", "RevocationReason", "decode_revocation", "encode_revocation"]


class RevocationReason(StrEnum):
    # A plain ``str`` travels on the wire, so a reader older than a new reason still decodes it.
    LOGOUT = "logout"
    REFRESH_REUSED = "refresh_reused"
    PASSWORD_CHANGED = "password_changed"
    ADMIN = "admin"


class Revocation(msgspec.Struct, kw_only=True):
    user_id: str
    reason: str
    not_before: int  # unix seconds, compared with the token's integer ``iat``
    session_id: str | None = None

    def revokes(self, *, issued_at: float, session_id: str | None) -> bool:
        """Whether a token of ``user_id`` with these claims is revoked by this message."""
        if self.session_id is not None:
            return session_id == self.session_id
        return issued_at < self.not_before


encode_revocation = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Revocation)


def decode_revocation(raw: bytes | str) -> Revocation:
    """Decode a revocation; raise ``msgspec.DecodeError`` if it is not one."""
    return _decoder.decode(raw)
