"""A streaming client for any OpenAI-compatible Chat Completions endpoint.

An agent's loop, one model step at a time (``tools`` are ``function_tool(...)`` dicts)::

    async with ChatClient(base_url, api_key, model) as llm:
        messages = [{"role": "system", "content": ...}, {"role": "user", "content": question}]
        for _ in range(max_steps):
            text, calls = [], []
            async with aclosing(llm.stream(messages, tools)) as events:
                async for event in events:
                    match event:
                        case ReasoningDelta(piece): ...  # a thinking delta
                        case TextDelta(piece): text.append(piece)  # an answer delta
                        case ToolCall(): calls.append(event)  # whole, arguments a dict
                        case Finished(reason, usage): ...  # usage may be None
            messages.append(assistant_message("".join(text), calls))
            if not calls:
                break
            results = await asyncio.gather(*(run_tool(call) for call in calls))
            messages += [tool_message(c.id, r) for c, r in zip(calls, results)]

Failures are exceptions with an agentwire ``code`` (``LlmError`` and its four kinds); a tool's
error is not one of them: hand it back to the model as the tool message's content.

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
