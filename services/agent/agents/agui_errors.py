"""The ways an AG-UI agent's run can fail, each carrying the agentwire code the run ends with.

    AgentwireError
    └── AguiError
        ├── AguiUnauthorized   agui_unauthorized    HTTP 401/403: the server wants other credentials
        ├── AguiUnavailable    agui_unavailable     429, 408, 5xx, connect errors, a server silent
        │                                           past AGUI_READ_TIMEOUT_S: retried (bounded)
        │                                           while nothing was shown yet, then raised
        ├── AguiRejected       agui_rejected        any other 4xx: the server refused the input
        ├── AguiProtocolError  agui_protocol_error  not AG-UI: a stream cut before RUN_FINISHED,
        │                                           an event out of order or malformed
        └── AguiRunFailed      agui_error           the server said its run failed (RUN_ERROR), or
                                                    ended it cancelled

Raised as they are, they end the run with ``agent_failed`` and ``error.code``. Messages name the
endpoint without credentials, and what the server said, cut short.
"""

from __future__ import annotations

from shared.errors import AgentwireError, ErrorCode

__all__ = [
    "AguiError",
    "AguiProtocolError",
    "AguiRejected",
    "AguiRunFailed",
    "AguiUnauthorized",
    "AguiUnavailable",
    "error_for_status",
]


class AguiError(AgentwireError):
    code = ErrorCode.AGUI_UNAVAILABLE


class AguiUnauthorized(AguiError):
    code = ErrorCode.AGUI_UNAUTHORIZED


class AguiUnavailable(AguiError):
    """Worth another try: ``retry_after`` is how long the server asked us to wait, if it did."""

    code = ErrorCode.AGUI_UNAVAILABLE

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AguiRejected(AguiError):
    code = ErrorCode.AGUI_REJECTED


class AguiProtocolError(AguiError):
    code = ErrorCode.AGUI_PROTOCOL_ERROR


class AguiRunFailed(AguiError):
    code = ErrorCode.AGUI_ERROR


_RETRYABLE = frozenset({408, 425, 429})


def error_for_status(status: int, message: str, retry_after: float | None = None) -> AguiError:
    if status in (401, 403):
        return AguiUnauthorized(message)
    if status in _RETRYABLE or status >= 500:
        return AguiUnavailable(message, retry_after=retry_after)
    return AguiRejected(message)
