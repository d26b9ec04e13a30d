"""The fake OpenAI server refuses what OpenAI refuses, and takes what OpenAI takes."""

from __future__ import annotations

from typing import Any

import pytest

from services.agent.llm import ToolCall, assistant_message, function_tool, tool_message
from tests.fakes.openai_validation import request_problem

USER = {"role": "user", "content": "hi"}
CALLS = [ToolCall("call_a", "weather", {"city": "Paris"}), ToolCall("call_b", "time", {})]
OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


def body(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "stream": True, "messages": list(messages), **extra}


def test_a_whole_tool_round_trip_as_the_client_helpers_write_it_is_taken() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        USER,
        assistant_message("", CALLS),
        tool_message("call_b", "12:00"),  # answers may come in any order
        tool_message("call_a", {"sky": "clear"}),
        {"role": "assistant", "content": "Clear, noon."},
        USER,
    ]
    tools = [function_tool("weather", "Weather.", OBJECT), function_tool("time", "Time.", OBJECT)]
    assert request_problem(body(*messages, tools=tools)) is None


@pytest.mark.parametrize(
    ("request_body", "problem"),
    [
        ({"stream": True, "messages": [USER]}, "model"),
        (body(), "too short - 'messages'"),
        ({**body(USER), "stream": False}, "only streams"),
        (body(USER, {"role": "robot", "content": "x"}), "role"),
        (body(USER, tool_message("call_x", "1")), "must be a response to a preceeding"),
        (body(USER, assistant_message("", CALLS), tool_message("call_a", "1"), USER), "call_b"),
        (body(USER, assistant_message("", CALLS[:1])), "call_a"),
        (body(USER, {"role": "assistant", "content": None}), "content"),
    ],
)
def test_requests_openai_refuses_are_refused(request_body: dict[str, Any], problem: str) -> None:
    assert problem in (request_problem(request_body) or "")


def test_arguments_sent_back_as_an_object_instead_of_a_string_are_refused() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
    assistant = {"role": "assistant", "content": None, "tool_calls": [call]}
    problem = request_problem(body(USER, assistant, tool_message("c", "ok")))
    assert problem is not None and "expected a string" in problem


@pytest.mark.parametrize(
    ("name", "schema"),
    [("files.read", OBJECT), ("x" * 65, OBJECT), ("ok", {"type": "string"})],
)
def test_tools_openai_refuses_are_refused(name: str, schema: dict[str, Any]) -> None:
    assert request_problem(body(USER, tools=[function_tool(name, "d", schema)])) is not None
