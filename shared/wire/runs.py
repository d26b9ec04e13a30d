"""Gateway -> agents: cancels and lists over NATS request/reply (queue group ``agents``).

    (intake)            RunRequest         -> RunStarted | RunRejected  (the gateway's own
                                              answer once the RUNS queue stored the message:
                                              services/ws_gateway/intake.py, shared/wire/intake.py)
    agent.runs.cancel   CancelRequest      -> CancelAccepted | RunRejected
    agent.threads.list  ListThreadsRequest -> ThreadList | RunRejected
    agent.runs.list     ListRunsRequest    -> RunList | RunRejected

The gateway fills ``user_id`` from the verified token, never from the client's frame.
``ThreadInfo`` and ``RunInfo`` travel on to the client unchanged (``threads`` / ``runs`` frames).

The lists are paged: a request names a ``limit`` and the ``cursor`` of the page before (None:
the first page); a list carries the ``cursor`` it answers and ``next_cursor`` (None: no more).
Cursors are the agent's (``services.agent.paging``); everyone else passes them on untouched.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = [
    "CURSOR_MAX_CHARS",
    "DEFAULT_PAGE_LIMIT",
    "MAX_PAGE_LIMIT",
    "AgentInfo",
    "AgentList",
    "CancelAccepted",
    "CancelReply",
    "CancelRequest",
    "DecideRequest",
    "Decided",
    "ListAgentsRequest",
    "ListRunsRequest",
    "ListThreadsRequest",
    "PageCursor",
    "PageLimit",
    "RunInfo",
    "RunList",
    "RunRejected",
    "RunRequest",
    "RunStarted",
    "SubmitReply",
    "ThreadInfo",
    "ThreadList",
    "decode_agent_list_reply",
    "decode_cancel_reply",
    "decode_cancel_request",
    "decode_decide_reply",
    "decode_decide_request",
    "decode_list_agents_request",
    "decode_list_runs_request",
    "decode_list_threads_request",
    "decode_run_list_reply",
    "decode_submit_reply",
    "decode_thread_list_reply",
    "encode",
]

DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 200
CURSOR_MAX_CHARS = 256

PageLimit = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE_LIMIT)]
# base64url, as the agent writes them: bounded, and nothing that needs escaping anywhere.
PageCursor = Annotated[
    str, msgspec.Meta(min_length=1, max_length=CURSOR_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$")
]


class RunRequest(msgspec.Struct, kw_only=True):
    user_id: str
    content: str
    thread_id: str | None = None
    client_msg_id: str | None = None
    agent: str | None = None  # None: the deployment's default agent


class RunStarted(msgspec.Struct, tag_field="status", tag="accepted", kw_only=True):
    """A message stored for the agents (the gateway's intake): ``run_accepted``'s fields.

    ``state``: ``starting`` (nothing waits ahead of it and an agent is free) or ``queued``;
    ``ahead``: how many accepted runs no agent had taken yet (an estimate; None if unknown)."""

    run_id: str
    thread_id: str
    state: str = "queued"
    ahead: int | None = None
    trace_id: str | None = None  # the message's trace, when tracing is on


class RunRejected(msgspec.Struct, tag_field="status", tag="rejected", kw_only=True):
    code: str
    message: str


SubmitReply = RunStarted | RunRejected


class CancelRequest(msgspec.Struct, kw_only=True):
    user_id: str
    run_id: str


class CancelAccepted(msgspec.Struct, tag_field="status", tag="accepted", kw_only=True):
    """``state`` is ``cancelling`` (the run will end with agent_cancelled) or, for a run that had
    already ended, its final status (``completed``, ``failed``, ``cancelled``): cancelling twice,
    or too late, is harmless."""

    run_id: str
    state: str


CancelReply = CancelAccepted | RunRejected


class ThreadInfo(msgspec.Struct, kw_only=True):
    thread_id: str
    title: str
    created_at: float
    updated_at: float


class RunInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    run_id: str
    thread_id: str
    status: str  # queued | running | completed | failed | cancelled
    content: str
    created_at: float
    finished_at: float | None = None
    result: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    client_msg_id: str | None = None
    # Where the run's events are in the user's log (its agent_started and its terminal event),
    # once known: a ``run_events`` frame with after_seq=first_seq-1, upto_seq=last_seq reads them.
    first_seq: int | None = None
    last_seq: int | None = None


class AgentInfo(msgspec.Struct, kw_only=True):
    name: str
    description: str
    default: bool = False


class ListAgentsRequest(msgspec.Struct, kw_only=True):
    user_id: str


class AgentList(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    agents: list[AgentInfo]


class DecideRequest(msgspec.Struct, kw_only=True):
    """A person's decision on an approval (gateway -> agents, ``agent.approvals.decide``)."""

    user_id: str
    approval_id: str
    decision: str  # approved | denied
    reason: str | None = None


class Decided(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    approval_id: str
    decision: str  # the approval's decision now: this request's, or the one made before
    first: bool


class ListThreadsRequest(msgspec.Struct, kw_only=True):
    user_id: str
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    cursor: PageCursor | None = None


class ThreadList(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    """The user's threads, most recently used first."""

    threads: list[ThreadInfo]
    cursor: str | None = None
    next_cursor: str | None = None


class ListRunsRequest(msgspec.Struct, kw_only=True):
    user_id: str
    thread_id: str
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    cursor: PageCursor | None = None


class RunList(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    """A thread's runs, newest first; a page may hold fewer than ``limit`` runs when they
    would not fit in one reply, and ``next_cursor`` then goes on from the last one."""

    thread_id: str
    runs: list[RunInfo]
    cursor: str | None = None
    next_cursor: str | None = None


encode = msgspec.json.Encoder().encode
decode_submit_reply = msgspec.json.Decoder(SubmitReply).decode
decode_cancel_request = msgspec.json.Decoder(CancelRequest).decode
decode_cancel_reply = msgspec.json.Decoder(CancelReply).decode
decode_list_threads_request = msgspec.json.Decoder(ListThreadsRequest).decode
decode_thread_list_reply = msgspec.json.Decoder(ThreadList | RunRejected).decode
decode_list_runs_request = msgspec.json.Decoder(ListRunsRequest).decode
decode_run_list_reply = msgspec.json.Decoder(RunList | RunRejected).decode
decode_list_agents_request = msgspec.json.Decoder(ListAgentsRequest).decode
decode_decide_request = msgspec.json.Decoder(DecideRequest).decode
decode_decide_reply = msgspec.json.Decoder(Decided | RunRejected).decode
decode_agent_list_reply = msgspec.json.Decoder(AgentList | RunRejected).decode
