"""What an agent may raise, and what it may be handed back.

::

    AgentError            the run ends with agent_failed, this code and message
    ToolFailed            a tool called through the run failed (code, message); catch it to
                          carry on (an LLM agent hands it back to the model), or let it end the run

Any other exception ends the run with ``agent_failed`` ``agent_error`` and a generic message (the
exception goes to the agent service's log, not to the user: it may hold anything).
"""

from __future__ import annotations

__all__ = ["AgentError", "ToolFailed"]


class AgentError(Exception):
    """End the run as failed, with a code (``[a-z_]+``) and a message fit for the user."""

    def __init__(self, message: str, code: str = "agent_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ToolFailed(Exception):
    """A tool call failed: ``code`` is agentwire's (``tool_failed``, ``tool_timeout``,
    ``invalid_parameters``, ``unknown_tool``, ``cancelled``, ...), ``message`` says why."""

    def __init__(self, tool_name: str, code: str, message: str) -> None:
        super().__init__(f"{tool_name}: {code}: {message}")
        self.tool_name = tool_name
        self.code = code
        self.message = message
