"""agentwire_client: talk to agentwire from Python, or chat from a terminal (``agentwire-chat``).

``Client`` is an async WebSocket client that reconnects and resumes on its own; ``login`` and
``register`` are the auth service's HTTP calls. See ``client`` for an example.
"""

from agentwire_client.auth import login, register
from agentwire_client.client import Client
from agentwire_client.errors import (
    AgentwireError,
    AuthError,
    ConnectionLost,
    ServerError,
    Unauthorized,
)
from agentwire_client.protocol import EVENT_TYPES, TERMINAL_TYPES

__all__ = [
    "EVENT_TYPES",
    "TERMINAL_TYPES",
    "AgentwireError",
    "AuthError",
    "Client",
    "ConnectionLost",
    "ServerError",
    "Unauthorized",
    "login",
    "register",
]
