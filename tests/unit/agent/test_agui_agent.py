"""An AG-UI server as an agent, driven through httpx's transport seam (no socket) and the SDK's
test double: what it is sent (the thread, the tools), what the user sees of what it streams, the
tool calls it leaves for agentwire answered in a new run, and each way the server can fail, named.
The same agent against a real AG-UI server is in tests/integration/test_agui_agents.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from agentwire_sdk import ToolCallRecord, ToolFailed, Turn
from agentwire_sdk.testing import Recording, run_agent
from services.agent.agents.agui import AguiSettings, agui_agent

URL = "http://agui.test/agent"
EVENT_STREAM = {"content-type": "text/event-stream"}
Event = dict[str, Any]
Answer = httpx.Response | Callable[[], httpx.Response]


def sse(*events: Event, finish: bool = True) -> bytes:
    """A run's stream: RUN_STARTED, the events, RUN_FINISHED (unless ``finish`` is False)."""
    started = {"type": "RUN_STARTED", "threadId": "t", "runId": "r"}
    finished = [{"type": "RUN_FINISHED", "threadId": "t", "runId": "r"}] if finish else []
    return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in [started, *events, *finished])


def stream(*events: Event, finish: bool = True) -> httpx.Response:
    return httpx.Response(200, headers=EVENT_STREAM, content=sse(*events, finish=finish))


def text(message_id: str, words: str) -> list[Event]:
    return [
        {"type": "TEXT_MESSAGE_START", "messageId": message_id, "role": "assistant"},
        {"type": "TEXT_MESSAGE_CONTENT", "messageId": message_id, "delta": words},
        {"type": "TEXT_MESSAGE_END", "messageId": message_id},
    ]


def tool_call(call_id: str, name: str, args: dict[str, Any], parent: str = "m1") -> list[Event]:
    start = {"type": "TOOL_CALL_START", "toolCallId": call_id, "toolCallName": name}
    return [
        start | {"parentMessageId": parent},
        {"type": "TOOL_CALL_ARGS", "toolCallId": call_id, "delta": json.dumps(args)},
        {"type": "TOOL_CALL_END", "toolCallId": call_id},
    ]


class Server:
    """Answers requests in turn; keeps what it was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.bodies: list[Any] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        answer = self.answers.pop(0)
        return answer if isinstance(answer, httpx.Response) else answer()


def analyze_performance(metric: str = "latency_ms") -> dict[str, Any]:
    """Summary statistics of one metric per service."""
    if metric != "latency_ms":
        raise ToolFailed("analyze_performance", "invalid_parameters", f"no metric {metric!r}")
    return {"metric": metric, "worst_service": "db"}


async def run_on(server: Server, message: str, **options: Any) -> Recording:
    settings = AguiSettings("remote", URL, api_key="k-secret", max_retries=2, max_steps=3)
    agent = agui_agent(settings, transport=httpx.MockTransport(server))
    tools = {"analyze_performance": analyze_performance}
    return await run_agent(agent, message, tools=tools, **options)


def tool_events(recording: Recording) -> list[Any]:
    return [e.data for e in recording.events if e.__struct_config__.tag == "tool_completed"]  # type: ignore[misc, union-attr]


async def test_the_server_is_sent_the_thread_and_offered_the_tool_runners_tools() -> None:
    server = Server(stream(*text("m1", "Hi again")))
    earlier = [
        Turn("user", "how slow?"),
        Turn(
            "assistant",
            "db is slowest",
            (ToolCallRecord("analyze_performance", {"metric": "latency_ms"}, {"worst": "db"}),),
        ),
    ]

    recording = await run_on(server, "thanks", history=earlier)

    assert recording.answer == "Hi again"
    [body] = server.bodies
    roles = [(m["role"], m.get("content")) for m in body["messages"]]
    assert roles == [
        ("user", "how slow?"),
        ("assistant", None),  # the earlier answer's tool call...
        ("tool", '{"worst": "db"}'),  # ...answered...
        ("assistant", "db is slowest"),  # ...then the answer
        ("user", "thanks"),
    ]
    calls = body["messages"][1]["toolCalls"]
    assert calls[0]["id"] == body["messages"][2]["toolCallId"]
    assert [t["name"] for t in body["tools"]] == ["analyze_performance"]
    assert body["protocolVersion"] == "1.0" and body["threadId"] == "test-thread"


async def test_a_tool_it_asks_for_runs_and_the_result_goes_back_in_a_new_run() -> None:
    reasoning = [
        {"type": "REASONING_MESSAGE_START", "messageId": "r1", "role": "reasoning"},
        {"type": "REASONING_MESSAGE_CONTENT", "messageId": "r1", "delta": "Latency first."},
        {"type": "REASONING_MESSAGE_END", "messageId": "r1"},
    ]
    asks = [*reasoning, *text("m1", "Let me look."), *tool_call("c1", "analyze_performance", {})]
    server = Server(stream(*asks), stream(*text("m2", "db is slowest.")))

    recording = await run_on(server, "why slow?")

    assert recording.answer == "db is slowest."
    assert recording.thoughts == ["Latency first.", "Let me look."]
    [done] = tool_events(recording)
    assert (done.tool_name, done.result["worst_service"]) == ("analyze_performance", "db")
    first, second = server.bodies
    assert second["runId"] != first["runId"] and second["threadId"] == first["threadId"]
    asked, answered = second["messages"][-2:]
    assert asked["role"] == "assistant" and asked["content"] == "Let me look."
    assert asked["toolCalls"][0]["id"] == "c1"
    assert answered["toolCallId"] == "c1" and json.loads(answered["content"])["metric"]


async def test_a_failed_tool_goes_back_as_its_error_for_the_server_to_read() -> None:
    asks = tool_call("c1", "analyze_performance", {"metric": "bogus"})
    server = Server(stream(*asks), stream(*text("m2", "No such metric.")))

    recording = await run_on(server, "check bogus")

    assert recording.answer == "No such metric."
    answered = server.bodies[1]["messages"][-1]
    assert answered["error"].startswith("invalid_parameters")
    assert json.loads(answered["content"])["error"]["code"] == "invalid_parameters"


async def test_a_tool_agentwire_does_not_offer_is_shown_failed_and_answered_unknown_tool() -> None:
    asks = tool_call("c1", "launch_rockets", {"count": 3})
    server = Server(stream(*asks), stream(*text("m2", "I cannot.")))

    recording = await run_on(server, "launch")

    [done] = tool_events(recording)
    assert (done.tool_name, done.error.code) == ("launch_rockets", "unknown_tool")
    assert server.bodies[1]["messages"][-1]["error"].startswith("unknown_tool")


async def test_a_tool_the_server_runs_itself_is_shown_with_its_result() -> None:
    ran = [
        *tool_call("c1", "web_search", {"q": "db latency"}),
        {"type": "TOOL_CALL_RESULT", "messageId": "t1", "toolCallId": "c1", "content": '{"n": 3}'},
        *text("m2", "Three hits."),
    ]
    server = Server(stream(*ran))

    recording = await run_on(server, "search")

    assert recording.answer == "Three hits." and len(server.bodies) == 1
    [done] = tool_events(recording)
    assert (done.tool_name, done.result, done.error) == ("web_search", {"n": 3}, None)


def refused(status: int, said: str = "no", retry_after: str | None = None) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(status, headers=headers, content=said.encode())


async def cut_stream() -> AsyncIterator[bytes]:
    yield sse(*text("m1", "half an ans"), finish=False)
    raise httpx.ReadError("connection reset by peer")


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ([refused(401, "bad key k-secret")], "agui_unauthorized"),
        ([refused(503, retry_after="0"), stream(*text("m", "ok now"))], None),
        ([refused(503, retry_after="0")] * 3, "agui_unavailable"),
        ([refused(422, "messages: field required")], "agui_rejected"),
        ([httpx.Response(200, headers=EVENT_STREAM, content=cut_stream())], "agui_protocol_error"),
        ([stream(*text("m", "half"), finish=False)], "agui_protocol_error"),
        ([httpx.Response(200, html="<p>login</p>")], "agui_protocol_error"),
        (
            [stream({"type": "RUN_ERROR", "message": "model overloaded"}, finish=False)],
            "agui_error",
        ),
    ],
    ids=["401", "503-then-ok", "503-spent", "422", "cut", "no-run-finished", "html", "run-error"],
)
async def test_a_failing_server_is_named_or_retried(answers: list[Any], code: str | None) -> None:
    recording = await run_on(Server(*answers), "hi")

    if code is None:
        assert recording.answer == "ok now"
        return
    assert recording.types[-1] == "agent_failed"
    assert recording.outcome is not None and recording.outcome.code == code  # type: ignore[union-attr]
    assert "k-secret" not in recording.outcome.message  # type: ignore[union-attr]


async def test_a_server_that_only_ever_asks_for_tools_ends_at_its_step_limit() -> None:
    server = Server(*[lambda: stream(*tool_call("c", "analyze_performance", {}))] * 3)

    recording = await run_on(server, "loop")

    assert recording.outcome is not None
    assert recording.outcome.code == "agent_error"  # type: ignore[union-attr]
    assert "within 3 runs" in recording.outcome.message  # type: ignore[union-attr]


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "denied"])
async def test_an_interrupt_is_asked_of_the_user_and_the_answer_resumes_the_server(
    approve: bool,
) -> None:
    interrupt = {
        "id": "int-c1",
        "reason": "tool_call",
        "message": 'Approve restart_service({"service":"db"})?',
        "toolCallId": "c1",
    }
    paused = {"type": "RUN_FINISHED", "outcome": {"type": "interrupt", "interrupts": [interrupt]}}
    asks = stream(*tool_call("c1", "restart_service", {"service": "db"}), paused, finish=False)
    outcome = "restarted" if approve else "denied"
    resumed = stream(
        {"type": "TOOL_CALL_RESULT", "messageId": "t1", "toolCallId": "c1", "content": outcome},
        *text("m2", f"Done: {outcome}."),
    )
    server = Server(asks, resumed)

    recording = await run_on(server, "restart db", approve=approve)

    assert recording.asked == ['Approve restart_service({"service":"db"})?']
    assert recording.answer == f"Done: {outcome}."
    [done] = tool_events(recording)  # the server's tool, shown from the call to its result
    assert (done.tool_name, done.result) == ("restart_service", outcome)
    first, second = server.bodies
    assert "resume" not in first
    assert second["resume"] == [
        {"interruptId": "int-c1", "status": "resolved", "payload": {"approved": approve}}
    ]
    assert second["messages"][-1]["toolCalls"][0]["id"] == "c1"  # no tool message: it is held


async def test_a_stop_while_the_servers_own_tool_runs_ends_that_tool_cancelled() -> None:
    async def running_long() -> AsyncIterator[bytes]:
        yield sse(*tool_call("c1", "web_search", {"q": "x"}), finish=False)
        await asyncio.sleep(30)

    server = Server(httpx.Response(200, headers=EVENT_STREAM, content=running_long()))

    recording = await run_on(server, "search", cancel_after_s=0.3)

    assert recording.cancelled and recording.types[-1] == "agent_cancelled"
    [done] = tool_events(recording)
    assert (done.tool_name, done.error.code) == ("web_search", "cancelled")
