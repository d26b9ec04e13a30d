"""Client <-> gateway WebSocket frames other than the agent events (those live in ``events``).

Client -> server: ``message``, ``ping``, ``resume``, ``cancel``, ``list_threads``, ``list_runs``,
``run_events``, ``list_agents``, ``auth``.
Server -> client: ``run_accepted``, ``error``, ``pong``, ``resume_gap``, ``caught_up``,
``heartbeat``, ``cancel_accepted``, ``threads``, ``runs``, ``run_snapshot``, ``agents``,
``auth_ok``, ``token_expiring``, and every event from ``events``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from shared.subjects import SAFE_TOKEN_PATTERN
from shared.wire.runs import (
    DEFAULT_PAGE_LIMIT,
    AgentInfo,
    PageCursor,
    PageLimit,
    RunInfo,
    ThreadInfo,
)

__all__ = [
    "CLIENT_FRAME_TYPES",
    "MAX_CONTENT_CHARS",
    "Agents",
    "AnyClientFrame",
    "ApprovalDecided",
    "Approve",
    "Auth",
    "AuthOk",
    "Cancel",
    "CancelAccepted",
    "CaughtUp",
    "ClientFrame",
    "Deny",
    "ErrorData",
    "ErrorFrame",
    "FrameHead",
    "Heartbeat",
    "ListAgents",
    "ListRuns",
    "ListThreads",
    "Ping",
    "Pong",
    "Resume",
    "ResumeGap",
    "RunAccepted",
    "RunEvents",
    "RunSnapshot",
    "Runs",
    "SendMessage",
    "Threads",
    "TokenExpiring",
    "decode_client_frame",
    "decode_frame_head",
    "encode_frame",
]

MAX_CONTENT_CHARS = 16_000

SafeId = Annotated[str, msgspec.Meta(pattern=SAFE_TOKEN_PATTERN)]
Content = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT_CHARS)]


class FrameHead(msgspec.Struct):
    """Decoded first, so that an unknown ``type`` can be told apart from a malformed frame."""

    type: str


class ClientFrame(msgspec.Struct, tag_field="type", kw_only=True):
    pass


class SendMessage(ClientFrame, tag="message"):
    content: Content
    thread_id: SafeId | None = None
    client_msg_id: SafeId | None = None
    agent: SafeId | None = None  # one of list_agents' names; None: the deployment's default


class Ping(ClientFrame, tag="ping"):
    pass


class Resume(ClientFrame, tag="resume"):
    """Send me every event of mine with seq > after_seq, then the live stream."""

    after_seq: Annotated[int, msgspec.Meta(ge=0)]


class Cancel(ClientFrame, tag="cancel"):
    run_id: SafeId


class ListThreads(ClientFrame, tag="list_threads"):
    """A page of my threads: the first, or the one after ``cursor`` (a ``next_cursor``)."""

    limit: PageLimit = DEFAULT_PAGE_LIMIT
    cursor: PageCursor | None = None


class ListRuns(ClientFrame, tag="list_runs"):
    """A page of a thread's runs, newest first: the first, or the one after ``cursor``."""

    thread_id: SafeId
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    cursor: PageCursor | None = None


class RunEvents(ClientFrame, tag="run_events"):
    """One run's events, compacted, as a ``run_snapshot``: those of ``run_id`` stored after
    ``after_seq`` and up to ``upto_seq`` (a run's ``first_seq - 1`` and ``last_seq``, from
    ``runs``). Only the asking user's own events are ever read."""

    run_id: SafeId
    after_seq: Annotated[int, msgspec.Meta(ge=0)]
    upto_seq: Annotated[int, msgspec.Meta(ge=0)]


class ListAgents(ClientFrame, tag="list_agents"):
    """The agents a message may name, with a line about each."""


class Approve(ClientFrame, tag="approve"):
    approval_id: SafeId


class Deny(ClientFrame, tag="deny"):
    approval_id: SafeId
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class Auth(ClientFrame, tag="auth"):
    """A fresh access token for this socket, before the one it opened with expires."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]

    def __repr__(self) -> str:  # a frame that ends up in a log line must not carry the token
        return "Auth(token=...)"


AnyClientFrame = (
    SendMessage
    | Ping
    | Resume
    | Cancel
    | ListThreads
    | ListRuns
    | RunEvents
    | ListAgents
    | Approve
    | Deny
    | Auth
)
CLIENT_FRAME_TYPES = frozenset(
    {
        "message",
        "ping",
        "resume",
        "cancel",
        "list_threads",
        "list_runs",
        "run_events",
        "list_agents",
        "approve",
        "deny",
        "auth",
    }
)


class ServerFrame(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


class RunAccepted(ServerFrame, tag="run_accepted", kw_only=True):
    run_id: str
    thread_id: str
    client_msg_id: str | None = None
    state: str  # starting | queued (always sent)
    ahead: int | None = None
    # Where this socket's client may resume from if it has no position of its own yet (no
    # event came): every event after it reaches it. A queued run may wait long for its first.
    last_seq: int | None = None
    # The OpenTelemetry trace of this message (32 hex digits), when the server traces: find the
    # run's spans in the tracing backend with it. Absent when tracing is off.
    trace_id: str | None = None


class ErrorData(msgspec.Struct, kw_only=True):
    code: str
    message: str


class ErrorFrame(ServerFrame, tag="error"):
    data: ErrorData


class Pong(ServerFrame, tag="pong"):
    pass


class ResumeGap(ServerFrame, tag="resume_gap"):
    """Some events after ``after_seq`` are no longer kept; the replay starts at ``oldest_seq``."""

    after_seq: int
    oldest_seq: int


class CaughtUp(ServerFrame, tag="caught_up"):
    """The replay a resume asked for is complete; live events follow."""

    last_seq: int


class Heartbeat(ServerFrame, tag="heartbeat"):
    """Sent on a quiet socket: ``last_seq`` is the newest event of this user, so a client whose
    own last seq matches knows it is caught up."""

    last_seq: int


class CancelAccepted(ServerFrame, tag="cancel_accepted"):
    run_id: str
    state: str  # cancelling | completed | failed | cancelled


class AuthOk(ServerFrame, tag="auth_ok"):
    """The socket's new token was taken; it is now valid until ``expires_at`` (unix seconds)."""

    expires_at: int


class TokenExpiring(ServerFrame, tag="token_expiring"):
    """The socket's token expires at ``expires_at``; send ``auth`` with a fresh one, or the
    socket is closed (4401) ``grace_s`` seconds after that."""

    expires_at: int
    grace_s: int


class Threads(ServerFrame, tag="threads"):
    """A page of the user's threads; ``cursor`` is the request's (omitted for the first page),
    ``next_cursor`` asks for the next page (null: there is no more)."""

    threads: list[ThreadInfo]
    next_cursor: str | None
    cursor: str | None = None


class Runs(ServerFrame, tag="runs"):
    """A page of a thread's runs, newest first; cursors as in :class:`Threads`."""

    thread_id: str
    runs: list[RunInfo]
    next_cursor: str | None
    cursor: str | None = None


class RunSnapshot(ServerFrame, tag="run_snapshot"):
    """One run's events up to ``upto_seq``, compacted (a streamed message that is complete is
    only its completing event; one still open is its ``message_started`` and one
    ``message_delta`` with its text so far), each with its ``seq``. Sent for every run that has
    not ended to a ``deltas=1`` socket that joins without ``after_seq``, and as the answer to
    ``run_events``."""

    run_id: str
    thread_id: str
    upto_seq: int
    events: list[msgspec.Raw]


class ApprovalDecided(ServerFrame, tag="approval_decided"):
    """The answer to ``approve`` / ``deny``: the approval's decision, and whether this frame's
    was the one taken (``first``: false when another tab or device decided before)."""

    approval_id: str
    decision: str
    first: bool


class Agents(ServerFrame, tag="agents"):
    """The agents of this deployment; ``default`` marks the one a message without ``agent``
    goes to."""

    agents: list[AgentInfo]


encode_frame = msgspec.json.Encoder().encode
decode_frame_head = msgspec.json.Decoder(FrameHead).decode
decode_client_frame = msgspec.json.Decoder(AnyClientFrame).decode
