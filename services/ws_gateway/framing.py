"""Bytes to typed client frames and back, for the session: validation, error frames, seq splice.

The schemas are ``shared.wire``'s; this module only decides which error code answers a frame
that does not fit them, and builds the server frames the session hands out.
"""

from __future__ import annotations

import re

import msgspec

from shared.errors import ErrorCode
from shared.wire import frames, runs
from shared.wire.frames import CLIENT_FRAME_TYPES, AnyClientFrame, ErrorData, ErrorFrame

__all__ = [
    "PONG",
    "AgentReply",
    "agent_reply_frame",
    "caught_up_frame",
    "error_frame",
    "heartbeat_frame",
    "parse_client_frame",
    "resume_gap_frame",
    "run_accepted_frame",
    "with_seq",
]

PONG = frames.encode_frame(frames.Pong())
_ID_FIELDS = frozenset({"thread_id", "client_msg_id", "run_id", "agent", "approval_id"})
# msgspec names the failing field at the end of its message: "... - at `$.thread_id`".
_FAILING_FIELD = re.compile(r"- at `\$\.([A-Za-z_]+)")

_TOO_DEEP = "JSON nested too deeply"

AgentReply = (
    runs.CancelAccepted
    | runs.ThreadList
    | runs.RunList
    | runs.AgentList
    | runs.Decided
    | runs.RunRejected
)


def error_frame(code: ErrorCode | str, message: str) -> bytes:
    return frames.encode_frame(ErrorFrame(data=ErrorData(code=str(code), message=message)))


def with_seq(seq: int, payload: bytes) -> bytes:
    """The bus payload as a socket frame: ``"seq":<seq>,`` spliced in after the opening ``{``.

    A byte splice instead of decode + encode: it is a copy rather than a parse per event per
    socket (the hot path), and it forwards the producer's bytes untouched, so fields this gateway
    version does not know yet still reach the client. It relies on the bus contract that events
    are JSON objects encoded without ``seq`` (``encode_event`` omits the default 0).
    """
    if payload[1:2] == b"}":  # an empty object takes no comma
        return b'{"seq":%d}' % seq
    return b'{"seq":%d,%s' % (seq, payload[1:])


def parse_client_frame(raw: bytes) -> AnyClientFrame | bytes:
    """The typed frame, or the error frame that answers it."""
    try:
        head = frames.decode_frame_head(raw)
    except msgspec.ValidationError as exc:
        return error_frame(ErrorCode.INVALID_FRAME, str(exc))
    except msgspec.DecodeError as exc:
        return error_frame(ErrorCode.INVALID_JSON, str(exc))
    except RecursionError:
        # msgspec skips an unknown field's value recursively: deep enough nesting (a few
        # thousand brackets fit in one frame) overflows the stack instead of a DecodeError.
        return error_frame(ErrorCode.INVALID_JSON, _TOO_DEEP)
    if head.type not in CLIENT_FRAME_TYPES:
        expected = ", ".join(sorted(CLIENT_FRAME_TYPES))
        return error_frame(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown frame type {head.type[:64]!r}; expected one of: {expected}",
        )
    try:
        return frames.decode_client_frame(raw)
    except RecursionError:
        return error_frame(ErrorCode.INVALID_JSON, _TOO_DEEP)
    except msgspec.DecodeError as exc:
        message = str(exc)
        failing = _FAILING_FIELD.search(message)
        is_id = failing is not None and failing.group(1) in _ID_FIELDS
        return error_frame(ErrorCode.INVALID_ID if is_id else ErrorCode.INVALID_FRAME, message)


def agent_reply_frame(reply: AgentReply) -> bytes:
    """The frame that answers a cancel or list request, from the agents' reply."""
    match reply:
        case runs.CancelAccepted(run_id=run_id, state=state):
            return frames.encode_frame(frames.CancelAccepted(run_id=run_id, state=state))
        case runs.ThreadList(threads=threads, cursor=cursor, next_cursor=after):
            threads_frame = frames.Threads(threads=threads, cursor=cursor, next_cursor=after)
            return frames.encode_frame(threads_frame)
        case runs.RunList(thread_id=thread_id, runs=run_list, cursor=cursor, next_cursor=after):
            runs_frame = frames.Runs(
                thread_id=thread_id, runs=run_list, cursor=cursor, next_cursor=after
            )
            return frames.encode_frame(runs_frame)
        case runs.Decided(approval_id=approval_id, decision=decision, first=first):
            decided = frames.ApprovalDecided(
                approval_id=approval_id, decision=decision, first=first
            )
            return frames.encode_frame(decided)
        case runs.AgentList(agents=agents):
            return frames.encode_frame(frames.Agents(agents=agents))
        case runs.RunRejected(code=code, message=message):
            return error_frame(code, message)
    raise AssertionError(f"unhandled agent reply {reply!r}")  # pragma: no cover


def run_accepted_frame(
    accepted: runs.RunStarted, client_msg_id: str | None, last_seq: int | None = None
) -> bytes:
    frame = frames.RunAccepted(
        run_id=accepted.run_id,
        thread_id=accepted.thread_id,
        client_msg_id=client_msg_id,
        state=accepted.state,
        ahead=accepted.ahead,
        last_seq=last_seq,
        trace_id=accepted.trace_id,
    )
    return frames.encode_frame(frame)


def resume_gap_frame(after_seq: int, oldest_seq: int) -> bytes:
    return frames.encode_frame(frames.ResumeGap(after_seq=after_seq, oldest_seq=oldest_seq))


def caught_up_frame(last_seq: int) -> bytes:
    return frames.encode_frame(frames.CaughtUp(last_seq=last_seq))


def heartbeat_frame(last_seq: int) -> bytes:
    return frames.encode_frame(frames.Heartbeat(last_seq=last_seq))
