"""A WebSocket handshake's checks: where it carries its access token, which subprotocol to
answer with, and whether its ``Origin`` may open a socket.

The token travels one of two ways, tried in this order:

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

__all__ = [
    "BEARER_SUBPROTOCOL_PREFIX",
    "SUBPROTOCOL",
    "Handshake",
    "origin_allowed",
    "read_handshake",
    "select_subprotocol",
]

SUBPROTOCOL = "agentwire.v1"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
_BEARER_SCHEME = "bearer"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


@dataclass(frozen=True, slots=True)
class Handshake:
    # repr=False: a handshake that ends up in a log line or a traceback must not carry the token.
    token: str | None = field(repr=False)
    subprotocol: str | None


def read_handshake(headers: Mapping[str, str], offered: Iterable[str]) -> Handshake:
    """The token (header first, then subprotocol) and the subprotocol to accept with."""
    offered = [entry.strip() for entry in offered]
    return Handshake(
        token=_from_header(headers.get("authorization")) or _from_subprotocols(offered),
        subprotocol=select_subprotocol(offered),
    )


def select_subprotocol(offered: Iterable[str]) -> str | None:
    """``agentwire.v1`` when the client offered it; never a ``bearer.`` entry (see above)."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


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


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a handshake's ``Origin`` may open a socket.

    No ``Origin``: not a browser, allowed. ``allowed`` empty (the default): only the gateway's
    own page, and only on loopback (``http://127.0.0.1:<port>``, ``http://localhost:<port>``), so
    a rebound DNS name pointing at us does not count as our own origin. ``*``: any origin.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return "*" in allowed or origin in allowed
    if not host:
        return False
    host = host.lower()
    hostname = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return hostname in _LOOPBACK_HOSTS and origin in (f"http://{host}", f"https://{host}")
