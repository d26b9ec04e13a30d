"""agentwire_client: talk to agentwire from Python, or chat from a terminal (``agentwire-chat``).

``Client`` is an async WebSocket client that reconnects and resumes on its own, and given a
``Session`` (``Session.login``) renews its token; ``login``, ``register`` and the rest of
``auth`` are the auth service's HTTP calls. See ``client`` for an example.
"""

from agentwire_client.auth import TokenPair, login, login_pair, logout, refresh, register
from agentwire_client.client import Client
from agentwire_client.errors import (
    AgentwireError,
    AuthError,
    ConnectionLost,
    ServerError,
    SessionRevoked,
    Unauthorized,
)
from agentwire_client.protocol import EVENT_TYPES, TERMINAL_TYPES, Page
from agentwire_client.session import Session

__all__ = [
    "EVENT_TYPES",
    "TERMINAL_TYPES",
    "AgentwireError",
    "AuthError",
    "Client",
    "ConnectionLost",
    "Page",
    "ServerError",
    "Session",
    "SessionRevoked",
    "TokenPair",
    "Unauthorized",
    "login",
    "login_pair",
    "logout",
    "refresh",
    "register",
]
