"""Where a WebSocket handshake carries its access token, and which subprotocol to answer with.

Two ways, tried in this order:

- ``Authorization: Bearer <jwt>``: any client that can set headers.
- ``Sec-WebSocket-Protocol: agentwire.v1, bearer.<jwt>``: browsers, which cannot set headers on
  a WebSocket but can offer subprotocols. A JWT is made of token characters (base64url and
  dots), so it is a valid subprotocol name.

The server answers with the subprotocol ``agentwire.v1`` when the client offered it, and never
echoes the ``bearer.`` entry: the token would come back in a response header. Browsers refuse a
handshake whose answer names no subprotocol when they offered some, so a browser must offer
``agentwire.v1`` beside its token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["BEARER_SUBPROTOCOL_PREFIX", "SUBPROTOCOL", "Handshake", "read_handshake"]

SUBPROTOCOL = "agentwire.v1"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
_BEARER_SCHEME = "bearer"


@dataclass(frozen=True, slots=True)
class Handshake:
    # repr=False: a handshake that ends up in a log line or a traceback must not carry the token.
    token: str | None = field(repr=False)
    subprotocol: str | None


def read_handshake(headers: Mapping[str, str], offered: Iterable[str]) -> Handshake:
    """The token (header first, then subprotocol) and the subprotocol to accept with."""
    offered = [entry.strip() for entry in offered]
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in offered else None
    return Handshake(
        token=_from_header(headers.get("authorization")) or _from_subprotocols(offered),
        subprotocol=subprotocol,
    )


def _from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != _BEARER_SCHEME:
        return None
    return token.strip() or None


def _from_subprotocols(offered: list[str]) -> str | None:
    for entry in offered:
        if entry.startswith(BEARER_SUBPROTOCOL_PREFIX):
            return entry[len(BEARER_SUBPROTOCOL_PREFIX) :] or None
    return None
