"""The ways a chat completion can fail, each carrying the agentwire code a run ends with.

    AgentwireError
    └── LlmError
        ├── LlmUnauthorized   llm_unauthorized    HTTP 401/403: the key is wrong or lacks access
        ├── LlmUnavailable    llm_unavailable     429, 408, 5xx, connect errors, timeouts:
        │                                         retried (bounded), then raised
        ├── LlmRejected       llm_rejected        any other 4xx: unknown model, context too
        │                                         long, bad parameters; retrying cannot help
        └── LlmProtocolError  llm_protocol_error  a malformed stream: bad JSON, a cut before
                                                  it finished, a tool call that is not JSON

The agent turns any of them into ``agent_failed`` with ``error.code``. Messages name the endpoint
and what it said, never the API key (the client scrubs it from whatever the server echoes).
"""

from __future__ import annotations

from shared.errors import AgentwireError, ErrorCode

__all__ = [
    "LlmError",
    "LlmProtocolError",
    "LlmRejected",
    "LlmUnauthorized",
    "LlmUnavailable",
    "error_for_status",
]


class LlmError(AgentwireError):
    """Any failure of a chat completion; ``status`` is the HTTP status when there was one."""

    code = ErrorCode.LLM_UNAVAILABLE

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def scrub(self, secret: str) -> None:
        """Mask ``secret`` wherever the server echoed it into this error's message."""
        if secret and secret in self.message:
            self.message = self.message.replace(secret, "***")
            self.args = (self.message,)


class LlmUnauthorized(LlmError):
    code = ErrorCode.LLM_UNAUTHORIZED


class LlmUnavailable(LlmError):
    """Worth another try: ``retry_after`` is how long the server asked us to wait, if it did."""

    code = ErrorCode.LLM_UNAVAILABLE

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class LlmRejected(LlmError):
    code = ErrorCode.LLM_REJECTED


class LlmProtocolError(LlmError):
    code = ErrorCode.LLM_PROTOCOL_ERROR


_RETRYABLE = frozenset({408, 409, 425, 429})  # 409: OpenAI's "request conflicted", try again


def error_for_status(status: int, message: str, retry_after: float | None = None) -> LlmError:
    """The error an HTTP status stands for (also used for an error object inside a stream)."""
    if status in (401, 403):
        return LlmUnauthorized(message, status=status)
    if status in _RETRYABLE or status >= 500:
        return LlmUnavailable(message, status=status, retry_after=retry_after)
    return LlmRejected(message, status=status)
