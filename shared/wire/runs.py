"""Gateway -> agents: runs and threads over NATS request/reply (queue group ``agents``).

    agent.runs.submit   RunRequest         -> RunStarted | RunRejected
    agent.runs.cancel   CancelRequest      -> CancelAccepted | RunRejected
    agent.threads.list  ListThreadsRequest -> ThreadList | RunRejected
    agent.runs.list     ListRunsRequest    -> RunList | RunRejected

The gateway fills ``user_id`` from the verified token, never from the client's frame.
``ThreadInfo`` and ``RunInfo`` travel on to the client unchanged (``threads`` / ``runs`` frames).
"""

from __future__ import annotations

import msgspec

__all__ = [
    "CancelAccepted",
    "CancelReply",
    "CancelRequest",
    "ListRunsRequest",
    "ListThreadsRequest",
    "RunInfo",
    "RunList",
    "RunRejected",
    "RunRequest",
    "RunStarted",
    "SubmitReply",
    "ThreadInfo",
    "ThreadList",
    "decode_cancel_reply",
    "decode_cancel_request",
    "decode_list_runs_request",
    "decode_list_threads_request",
    "decode_run_list_reply",
    "decode_run_request",
    "decode_submit_reply",
    "decode_thread_list_reply",
    "encode",
]


class RunRequest(msgspec.Struct, kw_only=True):
    user_id: str
    content: str
    thread_id: str | None = None
    client_msg_id: str | None = None


class RunStarted(msgspec.Struct, tag_field="status", tag="accepted", kw_only=True):
    """A message stored for the agents (the gateway's intake): ``run_accepted``'s fields.

    ``state``: ``starting`` (nothing waits ahead of it and an agent is free) or ``queued``;
    ``ahead``: how many accepted runs no agent had taken yet (an estimate; None if unknown)."""

    run_id: str
    thread_id: str
    state: str = "queued"
    ahead: int | None = None


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


class ListThreadsRequest(msgspec.Struct, kw_only=True):
    user_id: str


class ThreadList(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    threads: list[ThreadInfo]


class ListRunsRequest(msgspec.Struct, kw_only=True):
    user_id: str
    thread_id: str


class RunList(msgspec.Struct, tag_field="status", tag="ok", kw_only=True):
    thread_id: str
    runs: list[RunInfo]


encode = msgspec.json.Encoder().encode
decode_run_request = msgspec.json.Decoder(RunRequest).decode
decode_submit_reply = msgspec.json.Decoder(SubmitReply).decode
decode_cancel_request = msgspec.json.Decoder(CancelRequest).decode
decode_cancel_reply = msgspec.json.Decoder(CancelReply).decode
decode_list_threads_request = msgspec.json.Decoder(ListThreadsRequest).decode
decode_thread_list_reply = msgspec.json.Decoder(ThreadList | RunRejected).decode
decode_list_runs_request = msgspec.json.Decoder(ListRunsRequest).decode
decode_run_list_reply = msgspec.json.Decoder(RunList | RunRejected).decode
