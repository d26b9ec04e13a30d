"""The LLM agent's completions as OpenTelemetry GenAI "chat" spans: the model and its tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwire_sdk.testing import run_agent
from services.agent.agents.llm import LlmSettings, llm_agent
from services.agent.llm import ChatClient
from shared import tracing
from tests.fakes.openai_fixture import FakeOpenAI, fake_openai, fake_openai_url  # noqa: F401
from tests.fakes.openai_script import reply, text


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = dict(tracing._state)
    tracing._state["tracer"] = provider.get_tracer("test")
    try:
        yield exporter
    finally:
        tracing._state.update(saved)


async def test_each_completion_is_a_chat_span_with_the_model_and_its_tokens(
    fake_openai: FakeOpenAI,  # noqa: F811
    spans: InMemorySpanExporter,
) -> None:
    await fake_openai.script(reply(text("Hello there"), usage=(11, 3)))
    settings = LlmSettings(base_url=fake_openai.base_url, model="fake-model")
    async with ChatClient(settings.base_url, None, settings.model) as client:
        run = await run_agent(llm_agent(settings, client=client), "hi")
    assert run.answer == "Hello there"
    [chat] = [s for s in spans.get_finished_spans() if s.name == "chat fake-model"]
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "fake-model"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        11,
        3,
    )
