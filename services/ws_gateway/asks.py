"""What a client frame asks of the agents, as the request the session hands its transport.

Sans I/O. The user id in every request is the session's (from the verified token), never the
frame's; ids in frames were checked by the frame schemas (``SafeId``) before they get here.
"""

from __future__ import annotations

from services.ws_gateway.commands import Request, RequestKind
from shared.wire.frames import Approve, Cancel, Deny, ListAgents, ListRuns, ListThreads
from shared.wire.runs import (
    CancelRequest,
    DecideRequest,
    ListAgentsRequest,
    ListRunsRequest,
    ListThreadsRequest,
)

__all__ = ["AgentAsk", "request_for"]

AgentAsk = Cancel | ListThreads | ListRuns | ListAgents | Approve | Deny


def request_for(frame: AgentAsk, user_id: str) -> Request:
    match frame:
        case Cancel(run_id=run_id):
            return Request(RequestKind.CANCEL, CancelRequest(user_id=user_id, run_id=run_id))
        case ListThreads(limit=limit, cursor=cursor):
            query = ListThreadsRequest(user_id=user_id, limit=limit, cursor=cursor)
            return Request(RequestKind.LIST_THREADS, query)
        case ListRuns(thread_id=thread_id, limit=limit, cursor=cursor):
            runs = ListRunsRequest(user_id=user_id, thread_id=thread_id, limit=limit, cursor=cursor)
            return Request(RequestKind.LIST_RUNS, runs)
        case ListAgents():
            return Request(RequestKind.LIST_AGENTS, ListAgentsRequest(user_id=user_id))
        case Approve(approval_id=approval_id):
            decision = DecideRequest(user_id=user_id, approval_id=approval_id, decision="approved")
            return Request(RequestKind.DECIDE, decision)
        case Deny(approval_id=approval_id, reason=reason):
            decision = DecideRequest(
                user_id=user_id, approval_id=approval_id, decision="denied", reason=reason
            )
            return Request(RequestKind.DECIDE, decision)
    raise AssertionError(f"not a request for the agents: {frame!r}")  # pragma: no cover
