"""One error tree and the documented code tables.

    AgentwireError (code: ErrorCode)
    ├── InvalidId            an id that may not reach a NATS subject
    ├── BadFrame             a client frame that cannot be accepted
    ├── Unauthorized         missing, invalid or expired credentials
    ├── PublishFailed        an event JetStream would not take, even after retries
    └── EventTooLarge        an event over what the event log stores (never retried)

``ErrorCode`` values travel in ``error`` frames, ``agent_failed`` events and HTTP error bodies.
``CloseCode`` values are the WebSocket close codes the gateway uses; docs/protocol.md lists both.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "AgentwireError",
    "BadFrame",
    "CloseCode",
    "ErrorCode",
    "EventTooLarge",
    "InvalidId",
    "PublishFailed",
    "Unauthorized",
]


class ErrorCode(StrEnum):
    # Client frames (error frame; the socket stays open)
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"
    INVALID_ID = "invalid_id"
    # Runs
    THREAD_NOT_FOUND = "thread_not_found"
    RUN_NOT_FOUND = "run_not_found"
    THREAD_BUSY = "thread_busy"
    UNKNOWN_AGENT = "unknown_agent"  # a message named an agent this deployment does not have
    APPROVAL_NOT_FOUND = "approval_not_found"  # not yours, or no such approval
    APPROVAL_DENIED = "approval_denied"  # a tool call a person denied (the agent is told)
    APPROVAL_EXPIRED = "approval_expired"  # nobody decided within APPROVAL_TIMEOUT_S
    REPLY_TOO_LARGE = "reply_too_large"  # an answer over the bus's payload limit: ask for less
    NO_AGENT_AVAILABLE = "no_agent_available"
    INTAKE_UNAVAILABLE = "intake_unavailable"  # the message could not be stored: nothing runs
    INTAKE_FAILED = "intake_failed"  # a stored message no agent could take, after every retry
    AGENT_ERROR = "agent_error"
    AGENT_LOST = "agent_lost"
    AGENT_STOPPED = "agent_stopped"
    RUN_TIMEOUT = "run_timeout"
    CANCELLED = "cancelled"  # a tool_completed's error when its run was stopped mid-call
    # Tools (in agent_failed, or a tool_completed's error)
    UNKNOWN_TOOL = "unknown_tool"
    INVALID_PARAMETERS = "invalid_parameters"
    TOOL_FAILED = "tool_failed"
    TOOL_TIMEOUT = "tool_timeout"
    TOOL_UNAVAILABLE = "tool_unavailable"
    TOOL_LOST = "tool_lost"  # the tool runner stopped sending heartbeats mid-call
    RESULT_TOO_LARGE = "result_too_large"  # a tool's result is over what the bus carries
    # LLM endpoints (agent_failed of an agent that calls a Chat Completions endpoint)
    LLM_UNAUTHORIZED = "llm_unauthorized"  # HTTP 401/403: the API key is wrong or lacks access
    LLM_UNAVAILABLE = "llm_unavailable"  # 429, 5xx, connect errors, timeouts, after retries
    LLM_REJECTED = "llm_rejected"  # any other 4xx: unknown model, context too long
    LLM_PROTOCOL_ERROR = "llm_protocol_error"  # a malformed or cut stream
    # AG-UI agents (agent_failed of an agent that is an AG-UI server: AGUI_AGENTS)
    AGUI_UNAUTHORIZED = "agui_unauthorized"  # HTTP 401/403
    AGUI_UNAVAILABLE = "agui_unavailable"  # 429, 5xx, connect errors, silence, after retries
    AGUI_REJECTED = "agui_rejected"  # any other 4xx: the server refused the run's input
    AGUI_PROTOCOL_ERROR = "agui_protocol_error"  # not AG-UI: cut before RUN_FINISHED, malformed
    AGUI_ERROR = "agui_error"  # the server's RUN_ERROR, with its message
    # Delivery
    PUBLISH_FAILED = "publish_failed"
    EVENT_TOO_LARGE = "event_too_large"  # an event over the log's size limit: the run fails
    EVENT_LOG_UNAVAILABLE = "event_log_unavailable"  # run_events could not read the log: retry
    # Accounts
    UNAUTHORIZED = "unauthorized"
    EMAIL_TAKEN = "email_taken"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_REQUEST = "invalid_request"
    INVALID_REFRESH_TOKEN = "invalid_refresh_token"
    USER_NOT_FOUND = "user_not_found"
    RATE_LIMITED = "rate_limited"  # also an error frame: a socket sent over its message rate
    SESSION_REVOKED = "session_revoked"
    INTERNAL = "internal"


class CloseCode(IntEnum):
    """WebSocket close codes. 1xxx are RFC 6455's; 4xxx are agentwire's own.

    4000-4099: reconnect (with ``after_seq``) and nothing is lost.
    4400-4499: do not reconnect as you are (credentials or request must change first);
    4429 may be retried after a pause.
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_DATA = 1007  # a text frame that is not UTF-8
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVER_RESTART = 4000
    SLOW_CONSUMER = 4008
    UNAUTHORIZED = 4401
    SESSION_REVOKED = 4403  # the token's session was revoked (logout, password change, admin)
    TOO_MANY_REQUESTS = 4429  # too many connections for the user, or a sustained message flood

    @property
    def should_reconnect(self) -> bool:
        return self in (CloseCode.GOING_AWAY, CloseCode.INTERNAL_ERROR) or 4000 <= self < 4100


class AgentwireError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidId(AgentwireError):
    code = ErrorCode.INVALID_ID


class BadFrame(AgentwireError):
    code = ErrorCode.INVALID_FRAME


class Unauthorized(AgentwireError):
    code = ErrorCode.UNAUTHORIZED


class PublishFailed(AgentwireError):
    code = ErrorCode.PUBLISH_FAILED


class EventTooLarge(AgentwireError):
    code = ErrorCode.EVENT_TOO_LARGE
