"""The LLM client against a real HTTP server speaking OpenAI's streaming protocol (the fake)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from contextlib import aclosing
from typing import Any, Literal

import pytest

from services.agent.llm import (
    ChatClient,
    ChatEvent,
    Finished,
    LlmError,
    LlmProtocolError,
    LlmRejected,
    LlmUnauthorized,
    LlmUnavailable,
    Message,
    ReasoningDelta,
    Retries,
    TextDelta,
    Timeouts,
    ToolCall,
    Usage,
    assistant_message,
    function_tool,
    tool_message,
)
from shared.errors import ErrorCode
from tests.fakes import openai_fixture
from tests.fakes.openai_fixture import FakeOpenAI
from tests.fakes.openai_script import (
    CallArguments,
    CallStart,
    http_error,
    malformed,
    pause,
    reasoning,
    reply,
    text,
    tool_call,
)

fake_openai_url = openai_fixture.fake_openai_url  # the fixtures this module uses
fake_openai = openai_fixture.fake_openai

KEY = "sk-test-7d1f0c2a9b3e"
FAST_RETRIES = Retries(max_retries=2, backoff_s=0.01, max_wait_s=3.0)
WEATHER = function_tool(
    "weather",
    "The weather in a city now.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
QUESTION: list[Message] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris and Oslo?"},
]


def client_of(fake: FakeOpenAI, **settings: Any) -> ChatClient:
    settings.setdefault("retries", FAST_RETRIES)
    settings.setdefault("timeouts", Timeouts(connect_s=2.0, read_s=2.0))
    return ChatClient(fake.base_url, KEY, "gpt-test", **settings)


async def collect(client: ChatClient, messages: list[Message], into: list[ChatEvent]) -> None:
    async with aclosing(client.stream(messages, [WEATHER])) as events:
        async for event in events:
            into.append(event)


async def test_a_turn_with_reasoning_and_two_parallel_calls_then_a_streamed_answer(
    fake_openai: FakeOpenAI,
) -> None:
    await fake_openai.script(
        reply(
            reasoning("The user wants two cities."),
            tool_call("call_paris", "weather", {"city": "Paris"}, index=0),
            tool_call("call_oslo", "weather", {"city": "Oslo"}, index=1),
            usage=(40, 22),
        ),
        reply(text("Sunny in Paris, snowing in Oslo."), usage=(75, 9)),
    )
    first: list[ChatEvent] = []
    async with client_of(fake_openai) as llm:
        await collect(llm, QUESTION, first)
        calls = [e for e in first if isinstance(e, ToolCall)]
        history = [
            *QUESTION,
            assistant_message("", calls),
            *(tool_message(c.id, {"city": c.arguments["city"], "sky": "clear"}) for c in calls),
        ]
        second: list[ChatEvent] = []
        await collect(llm, history, second)

    assert "".join(e.text for e in first if isinstance(e, ReasoningDelta)) == (
        "The user wants two cities."
    )
    assert calls == [
        ToolCall("call_paris", "weather", {"city": "Paris"}),
        ToolCall("call_oslo", "weather", {"city": "Oslo"}),
    ]
    assert first[-1] == Finished("tool_calls", Usage(input_tokens=40, output_tokens=22))
    assert "".join(e.text for e in second if isinstance(e, TextDelta)) == (
        "Sunny in Paris, snowing in Oslo."
    )
    assert len([e for e in second if isinstance(e, TextDelta)]) == 6  # streamed, word by word
    assert second[-1] == Finished("stop", Usage(input_tokens=75, output_tokens=9))

    requests = await fake_openai.requests()
    assert [r["headers"]["authorization"] for r in requests] == [f"Bearer {KEY}"] * 2
    sent = requests[1]["body"]
    assert (sent["model"], sent["stream"], sent["stream_options"]) == (
        "gpt-test",
        True,
        {"include_usage": True},
    )
    assert sent["tools"] == [WEATHER]
    assistant, *results = sent["messages"][2:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_paris", "call_oslo"]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    assert [(r["role"], r["tool_call_id"]) for r in results] == [
        ("tool", "call_paris"),
        ("tool", "call_oslo"),
    ]


async def test_reasoning_under_vllms_field_name_is_streamed_too(fake_openai: FakeOpenAI) -> None:
    await fake_openai.script(reply(reasoning("Hmm, fine.", field="reasoning"), text("Yes.")))
    events: list[ChatEvent] = []
    async with client_of(fake_openai) as llm:
        await collect(llm, QUESTION, events)
    assert [type(e) for e in events] == [ReasoningDelta, ReasoningDelta, TextDelta, Finished]


async def test_a_refused_key_is_llm_unauthorized_at_once_and_the_key_is_never_shown(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    echoed = f"Incorrect API key provided: {KEY}. You can find your API key at ..."
    await fake_openai.script(http_error(401, echoed))
    caplog.set_level(logging.DEBUG)
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmUnauthorized) as caught:
            await collect(llm, QUESTION, [])
    assert caught.value.code is ErrorCode.LLM_UNAUTHORIZED
    assert caught.value.status == 401
    assert "HTTP 401: Incorrect API key provided: ***" in str(caught.value)
    assert KEY not in repr(caught.value) and KEY not in caplog.text and KEY not in repr(llm)
    assert len(await fake_openai.requests()) == 1  # never retried


async def test_429_with_retry_after_waits_as_asked_then_succeeds(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    await fake_openai.script(
        http_error(429, "Rate limit reached", headers={"Retry-After": "1"}), reply(text("ok"))
    )
    events: list[ChatEvent] = []
    started = time.monotonic()
    async with client_of(fake_openai) as llm:
        await collect(llm, QUESTION, events)
    waited = time.monotonic() - started
    assert events == [TextDelta("ok"), Finished("stop", Usage(12, 34))]
    assert 0.95 <= waited < 2.5
    assert len(await fake_openai.requests()) == 2
    assert "HTTP 429: Rate limit reached; retry 1 in 1.00 s" in caplog.text
    assert KEY not in caplog.text


async def test_a_retry_after_longer_than_the_bound_is_not_waited_for(
    fake_openai: FakeOpenAI,
) -> None:
    await fake_openai.script(http_error(429, headers={"Retry-After": "3600"}), reply(text("ok")))
    started = time.monotonic()
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmUnavailable) as caught:
            await collect(llm, QUESTION, [])
    assert time.monotonic() - started < 1.0
    assert (caught.value.code, caught.value.retry_after) == (ErrorCode.LLM_UNAVAILABLE, 3600.0)


async def test_a_500_is_retried_and_the_answer_still_comes(fake_openai: FakeOpenAI) -> None:
    await fake_openai.script(http_error(500, "The server had an error"), reply(text("fine")))
    events: list[ChatEvent] = []
    async with client_of(fake_openai) as llm:
        await collect(llm, QUESTION, events)
    assert events[0] == TextDelta("fine")
    assert len(await fake_openai.requests()) == 2


async def test_an_endpoint_failing_every_time_is_llm_unavailable_after_the_bounded_retries(
    fake_openai: FakeOpenAI,
) -> None:
    await fake_openai.script(*[http_error(503, "overloaded")] * 3, reply(text("too late")))
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmUnavailable, match="HTTP 503: overloaded") as caught:
            await collect(llm, QUESTION, [])
    assert caught.value.status == 503
    assert len(await fake_openai.requests()) == 3  # the first try and max_retries=2


async def test_a_server_silent_past_the_read_timeout_is_retried(fake_openai: FakeOpenAI) -> None:
    await fake_openai.script(reply(pause(1.0), text("slow")), reply(text("quick")))
    events: list[ChatEvent] = []
    async with client_of(fake_openai, timeouts=Timeouts(read_s=0.3)) as llm:
        await collect(llm, QUESTION, events)
    assert events[0] == TextDelta("quick")


async def test_a_server_falling_silent_after_the_answer_began_is_not_retried(
    fake_openai: FakeOpenAI,
) -> None:
    await fake_openai.script(reply(text("Half"), pause(1.0), text("rest")), reply(text("again")))
    events: list[ChatEvent] = []
    async with client_of(fake_openai, timeouts=Timeouts(read_s=0.3)) as llm:
        with pytest.raises(LlmUnavailable, match=r"sent nothing for 0\.3 s"):
            await collect(llm, QUESTION, events)
    assert events == [TextDelta("Half")]  # shown already: a retry would show it twice
    assert len(await fake_openai.requests()) == 1


async def test_nothing_listening_is_llm_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    async with ChatClient(f"http://127.0.0.1:{port}/v1", KEY, "m", retries=FAST_RETRIES) as llm:
        with pytest.raises(LlmUnavailable, match="could not be reached"):
            await collect(llm, QUESTION, [])


@pytest.mark.parametrize("end", ["eof", "reset"])
async def test_a_stream_cut_midway_is_a_protocol_error_after_what_came(
    fake_openai: FakeOpenAI, end: Literal["eof", "reset"]
) -> None:
    await fake_openai.script(reply(text("Half an"), end=end), reply(text("never asked")))
    events: list[ChatEvent] = []
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmProtocolError) as caught:
            await collect(llm, QUESTION, events)
    assert events == [TextDelta("Half "), TextDelta("an")]
    assert caught.value.code is ErrorCode.LLM_PROTOCOL_ERROR
    assert len(await fake_openai.requests()) == 1  # what was shown cannot be taken back


async def test_a_malformed_chunk_is_a_protocol_error(fake_openai: FakeOpenAI) -> None:
    await fake_openai.script(reply(text("Fine"), malformed(), text("so far")))
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmProtocolError, match="not a valid JSON chunk"):
            await collect(llm, QUESTION, [])
    assert len(await fake_openai.requests()) == 1


async def test_tool_arguments_that_are_not_json_are_a_protocol_error(
    fake_openai: FakeOpenAI,
) -> None:
    broken = [CallStart(0, "call_1", "weather"), CallArguments(0, '{"city": "Par')]
    await fake_openai.script(reply(broken))
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmProtocolError, match="arguments of tool call 'weather'"):
            await collect(llm, QUESTION, [])


async def test_a_request_openai_would_refuse_is_llm_rejected_and_not_retried(
    fake_openai: FakeOpenAI,
) -> None:
    await fake_openai.script(reply(text("unused")))
    orphan: list[Message] = [*QUESTION, tool_message("call_nobody", "42")]
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmRejected, match="HTTP 400: Invalid parameter: messages with role"):
            await collect(llm, orphan, [])
    assert len(await fake_openai.requests()) == 1


async def test_cancelling_the_consumer_hangs_up_on_the_server_at_once(
    fake_openai: FakeOpenAI,
) -> None:
    await fake_openai.script(reply(text("tick " * 200), chunk_delay_s=0.05))  # 10 s of stream
    events: list[ChatEvent] = []
    three_in = asyncio.Event()

    async def consume(llm: ChatClient) -> None:
        async for event in llm.stream(QUESTION):
            events.append(event)
            if len(events) == 3:
                three_in.set()

    async with client_of(fake_openai) as llm:
        consumer = asyncio.create_task(consume(llm))
        await three_in.wait()
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        assert await fake_openai.wait_for_disconnect(0, timeout_s=2.0) < 1.0
    assert len(events) < 10


async def test_errors_share_one_root_with_a_code(fake_openai: FakeOpenAI) -> None:
    await fake_openai.script(http_error(404, "The model `gpt-test` does not exist"))
    async with client_of(fake_openai) as llm:
        with pytest.raises(LlmError) as caught:
            await collect(llm, QUESTION, [])
    assert isinstance(caught.value, LlmRejected)
    assert caught.value.code is ErrorCode.LLM_REJECTED
    assert "does not exist" in caught.value.message
