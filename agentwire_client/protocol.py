"""The client's rules, sans I/O: what a close code means, how long to back off, which events are
duplicates, which pending request a reply answers. No asyncio, no sockets: ``client`` does I/O.

The same rules are in the JavaScript client (``services/ws_gateway/static/agentwire.js``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "ERROR_ANSWERS",
    "EVENT_TYPES",
    "STREAM_TYPES",
    "SUBPROTOCOL",
    "TERMINAL_TYPES",
    "AfterClose",
    "AgentInfo",
    "CloseCode",
    "Page",
    "PendingRequest",
    "Requests",
    "SeqTracker",
    "after_close",
    "backoff_delay",
    "is_event",
    "page_frame",
    "page_key",
    "with_query",
]

SUBPROTOCOL = "agentwire.v1"
EVENT_TYPES = frozenset(
    {
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
        "agent_failed",
        "agent_cancelled",
        "message_started",
        "message_delta",
        "tool_progress",
        "approval_requested",
        "approval_resolved",
    }
)
TERMINAL_TYPES = frozenset({"agent_completed", "agent_failed", "agent_cancelled"})
# Only a socket opened with ``deltas=1`` is sent these (docs/protocol.md, *Streamed text*).
STREAM_TYPES = frozenset({"message_started", "message_delta", "tool_progress"})
# Error codes that answer only some requests, by reply type (docs/protocol.md, error codes).
ERROR_ANSWERS: dict[str, frozenset[str]] = {
    "intake_unavailable": frozenset({"run_accepted"}),  # not stored: nothing will run
    "invalid_request": frozenset({"run_accepted"}),  # an empty message
    "thread_not_found": frozenset({"runs"}),  # a message to such a thread is accepted, then fails
    "run_not_found": frozenset({"cancel_accepted"}),
    # no agent answered in time; never a message's (it waits in the queue)
    "no_agent_available": frozenset({"cancel_accepted", "threads", "runs", "agents"}),
    "reply_too_large": frozenset({"threads", "runs"}),  # a page with a run too big to send
    "approval_not_found": frozenset({"approval_decided"}),
    "unknown_agent": frozenset({"run_accepted"}),  # a message naming no agent: not stored
    "unknown_type": frozenset({"run_snapshot", "agents"}),  # a gateway older than these requests
}


class CloseCode:
    """The close codes of docs/protocol.md that a client acts on."""

    NORMAL = 1000
    GOING_AWAY = 1001
    ABNORMAL = 1006  # no close frame: the connection dropped
    POLICY = 1008
    SERVER_RESTART = 4000
    SLOW_CONSUMER = 4008
    UNAUTHORIZED = 4401
    REVOKED = 4403


class AfterClose(Enum):
    RECONNECT = "reconnect"  # with backoff
    RECONNECT_NOW = "reconnect_now"  # the server is restarting: straight back
    UNAUTHORIZED = "unauthorized"  # refresh the token (once), or log in again
    REVOKED = "revoked"  # the session was ended elsewhere: log in again
    STOP = "stop"  # 4400-4499 and 1008: change something first


def after_close(code: int | None) -> AfterClose:
    """What to do once a socket closed with ``code`` (None: it never opened)."""
    if code == CloseCode.UNAUTHORIZED:
        return AfterClose.UNAUTHORIZED
    if code == CloseCode.REVOKED:
        return AfterClose.REVOKED
    if code is not None and (code == CloseCode.POLICY or 4400 <= code <= 4499):
        return AfterClose.STOP
    if code == CloseCode.SERVER_RESTART:
        return AfterClose.RECONNECT_NOW
    return AfterClose.RECONNECT


def backoff_delay(
    attempt: int,
    base_s: float = 0.5,
    max_s: float = 15.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Capped exponential backoff with equal jitter: between half and all of the cap."""
    ceiling = min(max_s, base_s * 2 ** max(0, attempt))
    return ceiling / 2 + rand() * ceiling / 2


def is_event(frame: dict[str, Any]) -> bool:
    return frame.get("type") in EVENT_TYPES and isinstance(frame.get("seq"), int)


class SeqTracker:
    """Where to resume from, and which events were already seen (seq rises strictly per user)."""

    def __init__(self, after_seq: int | None = None) -> None:
        self.last_seq = after_seq
        self.duplicates = 0

    def accept(self, frame: dict[str, Any]) -> bool:
        """Take note of a frame; False for an event at or below the last seq (a duplicate)."""
        match frame.get("type"):
            case "caught_up":
                self.last_seq = max(self.last_seq or 0, int(frame["last_seq"]))
            case "heartbeat" if self.last_seq is None:
                self.last_seq = int(frame["last_seq"])  # a baseline when no event came yet
            case "run_accepted" if self.last_seq is None and frame.get("last_seq") is not None:
                self.last_seq = int(frame["last_seq"])  # likewise: a queued run may wait long
        if not is_event(frame):
            return True
        if self.last_seq is not None and frame["seq"] <= self.last_seq:
            self.duplicates += 1
            return False
        self.last_seq = frame["seq"]
        return True

    def snapshot(self, upto_seq: int) -> None:
        """A ``run_snapshot`` sent on joining: the socket stands at ``upto_seq`` at least."""
        self.last_seq = max(self.last_seq or 0, upto_seq)

    def url(self, base_url: str) -> str:
        """``base_url`` with ``after_seq`` set once there is something to resume after."""
        if self.last_seq is None:
            return base_url
        return with_query(base_url, "after_seq", str(self.last_seq))


def with_query(url: str, name: str, value: str) -> str:
    """``url`` with the query parameter ``name`` set to ``value`` (any earlier one replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name]
    query.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


class Page(list[dict[str, Any]]):
    """One page of a list (threads or runs): the items, newest first, as a plain list; and
    ``next_cursor``, which asks for the page after it (None: there is no more)."""

    def __init__(self, items: list[dict[str, Any]], next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor


def page_frame(frame: dict[str, Any], limit: int | None, cursor: str | None) -> dict[str, Any]:
    """A list_threads / list_runs frame asking for the page after ``cursor`` (None: the first)."""
    if limit is not None:
        frame["limit"] = limit
    if cursor:
        frame["cursor"] = cursor
    return frame


def page_key(thread_id: str | None, cursor: str | None) -> str:
    """What ties a ``threads`` / ``runs`` reply to its request: the thread and the cursor it
    answers, so two pages asked for at once cannot be swapped."""
    return f"{thread_id or ''}/{cursor or ''}"


@dataclass(frozen=True)
class AgentInfo:
    """One of the deployment's agents, as ``list_agents`` names it: ``name`` is what a message's
    ``agent`` takes; ``default`` marks the one a message without ``agent`` goes to."""

    name: str
    description: str = ""
    default: bool = False

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> AgentInfo:
        """An entry of the ``agents`` frame (fields it does not know are left out)."""
        description = item.get("description") or ""
        return cls(str(item["name"]), str(description), bool(item.get("default", False)))


@dataclass(eq=False)
class PendingRequest:
    """A request frame waiting for its reply; ``waiter`` is the I/O layer's (e.g. a future)."""

    frame: dict[str, Any]
    reply_type: str
    key: str | None
    waiter: Any = None


@dataclass
class Requests:
    """Requests in the order they were made. Replies are matched by type and key (client_msg_id,
    run_id, or a page's :func:`page_key`). An ``error`` frame carries no id, and replies can
    overtake each other (a message waits for the queue, a list for an agent): a code only one
    kind of request gets (``ERROR_ANSWERS``) answers the oldest of that kind, any other code the
    oldest request."""

    pending: list[PendingRequest] = field(default_factory=list)

    def add(self, request: PendingRequest) -> None:
        self.pending.append(request)

    def remove(self, request: PendingRequest) -> None:
        if request in self.pending:
            self.pending.remove(request)

    def match(self, frame: dict[str, Any]) -> PendingRequest | None:
        """The request ``frame`` answers, removed from the pending list; None if none."""
        kind = frame.get("type")
        if kind == "error":
            return self._answered_by(str((frame.get("data") or {}).get("code")))
        key = {
            "run_accepted": frame.get("client_msg_id"),
            "cancel_accepted": frame.get("run_id"),
            "threads": page_key(None, frame.get("cursor")),
            "runs": page_key(frame.get("thread_id"), frame.get("cursor")),
            "run_snapshot": frame.get("run_id"),
            "approval_decided": frame.get("approval_id"),
        }.get(str(kind))
        for request in self.pending:
            if request.reply_type == kind and (request.key is None or request.key == key):
                self.pending.remove(request)
                return request
        return None

    def _answered_by(self, code: str) -> PendingRequest | None:
        kinds = ERROR_ANSWERS.get(code, frozenset())
        request = next((r for r in self.pending if r.reply_type in kinds), None)
        if request is None and self.pending:
            request = self.pending[0]
        if request is not None:
            self.pending.remove(request)
        return request

    def drain(self) -> list[PendingRequest]:
        pending, self.pending = self.pending, []
        return pending
