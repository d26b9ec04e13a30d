"""agentwire_client: talk to agentwire from Python, or chat from a terminal (``agentwire-chat``).

``Client`` is an async WebSocket client that reconnects and resumes on its own, and given a
``Session`` (``Session.login``) renews its token; ``login``, ``register`` and the rest of
``auth`` are the auth service's HTTP calls. See ``client`` for an example.

A deployment may run several agents: ``await client.list_agents()`` names them (``AgentInfo``:
``name``, ``description``, ``default``), and ``client.send(text, agent=name)`` picks one.

``Client(..., deltas=True)`` also gets thoughts and answers as they are written, and the progress
of long tools; a ``Transcript`` folds those events into each message's text so far (see
``transcript``).
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
from agentwire_client.protocol import EVENT_TYPES, STREAM_TYPES, TERMINAL_TYPES, AgentInfo, Page
from agentwire_client.session import Session
from agentwire_client.transcript import (
    Approval,
    ApprovalUpdate,
    Message,
    MessageStatus,
    MessageUpdate,
    RunState,
    RunStatus,
    RunUpdate,
    ToolCall,
    ToolStatus,
    ToolUpdate,
    Transcript,
    Update,
)

__all__ = [
    "EVENT_TYPES",
    "STREAM_TYPES",
    "TERMINAL_TYPES",
    "AgentInfo",
    "AgentwireError",
    "Approval",
    "ApprovalUpdate",
    "AuthError",
    "Client",
    "ConnectionLost",
    "Message",
    "MessageStatus",
    "MessageUpdate",
    "Page",
    "RunState",
    "RunStatus",
    "RunUpdate",
    "ServerError",
    "Session",
    "SessionRevoked",
    "TokenPair",
    "ToolCall",
    "ToolStatus",
    "ToolUpdate",
    "Transcript",
    "Unauthorized",
    "Update",
    "login",
    "login_pair",
    "logout",
    "refresh",
    "register",
]
