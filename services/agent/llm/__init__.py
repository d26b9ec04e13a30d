"""A streaming client for any OpenAI-compatible Chat Completions endpoint.

    from services.agent.llm import ChatClient, TextDelta, ToolCall, Finished, tool_message

client.py    ChatClient.stream(messages, tools) -> typed events; retries, cancellation, the key
events.py    what it yields: ReasoningDelta, TextDelta, ToolCall (whole), Finished (usage)
errors.py    what it raises: LlmUnauthorized, LlmUnavailable, LlmRejected, LlmProtocolError
wire.py      the request and chunk shapes; helpers for the messages an agent sends back
assembly.py  chunks -> events without I/O: tool calls joined from fragments, the end checked
sse.py       text/event-stream decoded without I/O
retry.py     Retry-After and backoff
"""

from services.agent.llm.client import ChatClient, Timeouts
from services.agent.llm.errors import (
    LlmError,
    LlmProtocolError,
    LlmRejected,
    LlmUnauthorized,
    LlmUnavailable,
)
from services.agent.llm.events import (
    ChatEvent,
    Finished,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from services.agent.llm.retry import Retries
from services.agent.llm.wire import (
    AssistantMessage,
    Message,
    SystemMessage,
    Tool,
    ToolMessage,
    UserMessage,
    assistant_message,
    function_tool,
    tool_message,
)

__all__ = [
    "AssistantMessage",
    "ChatClient",
    "ChatEvent",
    "Finished",
    "LlmError",
    "LlmProtocolError",
    "LlmRejected",
    "LlmUnauthorized",
    "LlmUnavailable",
    "Message",
    "ReasoningDelta",
    "Retries",
    "SystemMessage",
    "TextDelta",
    "Timeouts",
    "Tool",
    "ToolCall",
    "ToolMessage",
    "Usage",
    "UserMessage",
    "assistant_message",
    "function_tool",
    "tool_message",
]
