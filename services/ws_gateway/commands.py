"""What a :class:`~services.ws_gateway.session.Session` asks its transport to do.

A session never does I/O; it returns these, and the transport carries them out:

    Send(frame)             write this text frame to the socket
    Submit(request)         submit a run to the agents; answer: submit_done / submit_failed
    Request(kind, message)  ask the agents (cancel, list); answer: request_done / request_failed
    Replay(generation, ..)  read the user's stored events after ``after_seq`` from the stream;
                            answer: replay_gap? , replayed* , then replay_done (or
                            replay_failed), each carrying ``generation``
    LoadRun(run_id, ..)     read one run's events for ``run_events``; answer: run_loaded
    Authenticate(token)     verify a fresh token the client sent (``auth`` frame); answer:
                            reauthenticated / reauth_refused
    Close(code, reason, last_frame)
                            close the socket with this code (the session is already CLOSING),
                            after writing ``last_frame`` (if any) in place of the dropped queue
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from shared.errors import CloseCode
from shared.wire.runs import (
    CancelRequest,
    DecideRequest,
    ListAgentsRequest,
    ListRunsRequest,
    ListThreadsRequest,
    RunRequest,
)

__all__ = [
    "AgentQuery",
    "Authenticate",
    "Close",
    "Command",
    "LoadRun",
    "Replay",
    "Request",
    "RequestKind",
    "Send",
    "Submit",
]

AgentQuery = (
    CancelRequest | ListThreadsRequest | ListRunsRequest | ListAgentsRequest | DecideRequest
)


class RequestKind(Enum):
    """The agent requests a socket may make besides submitting a run."""

    CANCEL = "cancel"
    LIST_THREADS = "list_threads"
    LIST_RUNS = "list_runs"
    LIST_AGENTS = "list_agents"
    DECIDE = "decide"  # approve / deny


@dataclass(frozen=True, slots=True)
class Send:
    frame: bytes


@dataclass(frozen=True, slots=True)
class Submit:
    request: RunRequest


@dataclass(frozen=True, slots=True)
class Request:
    kind: RequestKind
    message: AgentQuery


@dataclass(frozen=True, slots=True)
class Replay:
    """Read stored events with seq > ``after_seq``.

    ``check_gap``: first find out whether the stream still holds everything after ``after_seq``
    (a client's resume point); a repair of the live path starts from a position the session
    already knows is complete, so it skips that check.
    """

    generation: int
    after_seq: int
    check_gap: bool = False
    compact: bool = False  # fold streamed text (a deltas=1 socket's resume; see compaction)
    snapshot: bool = False  # not a replay but a snapshot on join: run_snapshot frames


@dataclass(frozen=True, slots=True)
class LoadRun:
    """One run's stored events with ``after_seq < seq <= upto_seq``, as a ``run_snapshot``."""

    run_id: str
    after_seq: int
    upto_seq: int


@dataclass(frozen=True, slots=True)
class Authenticate:
    token: str = field(repr=False)  # a command in a log line or traceback must not carry it


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str
    # Why, for a client that reads frames rather than close reasons; the queue is dropped.
    last_frame: bytes | None = None


Command = Send | Submit | Request | Replay | LoadRun | Authenticate | Close
