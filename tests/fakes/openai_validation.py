"""The request checks OpenAI makes before generating anything, so that the fake refuses what the
real service refuses: an agent that passes its tests on the fake must not fail on OpenAI.

Checked, with OpenAI's own wording where it has one: a model and a non-empty message list;
``stream: true`` (the fake only streams); tools that are functions named ``^[a-zA-Z0-9_-]{1,64}$``
with an object schema; assistant tool calls whose ``arguments`` is a string; every tool call
answered by a ``tool`` message right after it, and no ``tool`` message that answers nothing.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["request_problem"]

_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


def request_problem(body: Any) -> str | None:
    """Why OpenAI would answer 400 to ``body``, or None when it would take it."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    if body.get("stream") is not True:
        return "the fake OpenAI server only streams: send 'stream': true"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "[] is too short - 'messages'"
    return _tools_problem(body.get("tools")) or _messages_problem(messages)


def _tools_problem(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list) or not tools:
        return "[] is too short - 'tools'"
    names: set[str] = set()
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            return f"Invalid value for 'tools[{i}]': expected a function tool."
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            return (
                f"Invalid 'tools[{i}].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
            )
        if name in names:
            return f"Duplicate function name {name!r} in 'tools'."
        names.add(name)
        schema = function.get("parameters", {"type": "object"})
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"Invalid schema for function {name!r}: schema must be of 'type: \"object\"'."
    return None


def _messages_problem(messages: list[Any]) -> str | None:
    unanswered: list[str] = []  # tool_call ids still owed a tool message
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return f"Invalid value for 'messages[{i}].role'."
        if message["role"] == "tool":
            if message.get("tool_call_id") not in unanswered:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceeding message with 'tool_calls' (messages[{i}])."
                )
            unanswered.remove(message["tool_call_id"])
            problem = _content_problem(i, message)
        elif unanswered:
            return _unanswered(unanswered)
        elif message["role"] == "assistant":
            problem, unanswered = _assistant_problem(i, message)
        else:
            problem = _content_problem(i, message)
        if problem:
            return problem
    return _unanswered(unanswered) if unanswered else None


def _assistant_problem(i: int, message: dict[str, Any]) -> tuple[str | None, list[str]]:
    calls = message.get("tool_calls")
    if calls is None:
        return _content_problem(i, message), []
    if not isinstance(calls, list) or not calls:
        return f"[] is too short - 'messages.{i}.tool_calls'", []
    ids = []
    for j, call in enumerate(calls):
        where = f"messages[{i}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str):
            return f"Missing required parameter: '{where}.id' or '{where}.function'.", []
        if not isinstance(function.get("arguments"), str):
            kind = type(function.get("arguments")).__name__
            expected = f"expected a string, got {kind}"
            return f"Invalid type for '{where}.function.arguments': {expected}.", []
        ids.append(call["id"])
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        return f"Invalid type for 'messages[{i}].content'.", []
    return None, ids


def _content_problem(i: int, message: dict[str, Any]) -> str | None:
    if isinstance(message.get("content"), str | list):
        return None
    return f"Invalid type for 'messages[{i}].content': expected a string or an array of parts."


def _unanswered(ids: list[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(ids)
    )
