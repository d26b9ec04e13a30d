"""One Chat Completions endpoint, streamed: messages in, typed events out, failures named.

Works with any server that speaks OpenAI's Chat Completions with ``stream: true``: OpenAI,
vLLM, Ollama (``/v1``), llama.cpp's server, LiteLLM. Example::

    async with ChatClient("http://127.0.0.1:11434/v1", api_key="", model="qwen3") as llm:
        async with aclosing(llm.stream(messages, tools)) as events:
            async for event in events:
                match event:
                    case TextDelta(text): print(text, end="")
                    case ToolCall(id, name, arguments): calls.append(event)
                    case Finished(reason, usage): ...

A request that fails before anything was yielded (HTTP 429, 408, 5xx, a connect error, a
timeout) is retried as ``Retries`` says, honouring ``Retry-After``; once an event has been
yielded nothing is retried, since the agent has already shown it. Cancelling the task that
iterates closes the HTTP response at once, so the server sees the disconnect and stops
generating. The API key travels in one header only; any message that reaches an exception has
it masked, and the endpoint is named without credentials or query string.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Self

import httpx
import msgspec

from services.agent.llm.assembly import ChunkAssembler
from services.agent.llm.errors import (
    LlmError,
    LlmProtocolError,
    LlmUnavailable,
    error_for_status,
)
from services.agent.llm.events import ChatEvent
from services.agent.llm.retry import Retries, retry_after_s
from services.agent.llm.sse import EventTooLong, SseDecoder
from services.agent.llm.wire import Message, Tool, request_body

__all__ = ["ChatClient", "Timeouts"]

log = logging.getLogger(__name__)

_ERROR_BODY_LIMIT = 64 * 1024
_RETRIES = Retries()


@dataclass(frozen=True)
class Timeouts:
    connect_s: float = 10.0
    # The longest silence between two chunks. Generous: a model whose reasoning is hidden
    # (OpenAI's o-series) sends nothing while it thinks; a busy local server queues requests.
    read_s: float = 300.0
    write_s: float = 30.0

    def for_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_s, read=self.read_s, write=self.write_s, pool=self.connect_s
        )


class ChatClient:
    """A streaming client of ``{base_url}/chat/completions``; one per endpoint, shared by runs."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        timeouts: Timeouts = Timeouts(),
        retries: Retries = _RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self.endpoint = _without_credentials(base_url)
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key or ""
        self._timeouts, self._retries = timeouts, retries
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if self._api_key:  # local servers (Ollama, llama.cpp) need none
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.AsyncClient(
            headers=headers, timeout=timeouts.for_httpx(), transport=transport
        )

    def __repr__(self) -> str:
        return f"ChatClient({self.endpoint!r}, model={self.model!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(
        self,
        messages: Sequence[Message] | Sequence[Mapping[str, Any]],
        tools: Sequence[Tool] | Sequence[Mapping[str, Any]] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[ChatEvent]:
        """The completion's events, ending with one ``Finished``; raises an ``LlmError``.

        ``options`` are added to the request body as they are (``temperature``,
        ``max_tokens``, ``tool_choice``, ``parallel_tool_calls``...).
        """
        body = request_body(self.model, messages, tools, options)
        retries_done = 0
        while True:
            yielded = False
            try:
                async with aclosing(self._attempt(body)) as events:
                    async for event in events:
                        yielded = True
                        yield event
                return
            except LlmUnavailable as error:
                error.scrub(self._api_key)
                delay = None if yielded else self._retries.delay(retries_done, error.retry_after)
                if delay is None:
                    raise
                retries_done += 1
                log.warning("%s; retry %d in %.2f s", error.message, retries_done, delay)
                await asyncio.sleep(delay)
            except LlmError as error:
                error.scrub(self._api_key)
                raise

    async def _attempt(self, body: bytes) -> AsyncIterator[ChatEvent]:
        try:
            async with self._http.stream("POST", self._url, content=body) as response:
                if response.status_code != 200:
                    raise await self._refusal(response)
                _expect_event_stream(response)
                async with aclosing(self._events(response)) as events:
                    async for event in events:
                        yield event
        except httpx.TimeoutException as error:
            raise LlmUnavailable(f"{self.endpoint} timed out ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise LlmUnavailable(f"{self.endpoint} could not be reached: {error}") from error

    async def _events(self, response: httpx.Response) -> AsyncIterator[ChatEvent]:
        decoder, assembler = SseDecoder(), ChunkAssembler()
        try:
            async for data in response.aiter_bytes():
                for sse in decoder.feed(data):
                    for event in assembler.feed(sse.data):
                        yield event
        except httpx.ReadTimeout as error:
            silence = self._timeouts.read_s
            raise LlmUnavailable(f"{self.endpoint} sent nothing for {silence} s") from error
        except httpx.TransportError as error:
            raise LlmProtocolError(f"{self.endpoint} cut the stream: {error}") from error
        except EventTooLong as error:
            raise LlmProtocolError(f"{self.endpoint} sent {error}") from None
        for event in assembler.end_of_stream():
            yield event

    async def _refusal(self, response: httpx.Response) -> LlmError:
        said = _server_message(await _read_some(response))
        message = f"{self.endpoint} answered HTTP {response.status_code}: {said}"
        return error_for_status(response.status_code, message, retry_after_s(response.headers))


def _expect_event_stream(response: httpx.Response) -> None:
    kind = response.headers.get("content-type", "text/event-stream")
    if not kind.startswith("text/event-stream"):
        raise LlmProtocolError(f"expected a text/event-stream, got {kind}: does it stream?")


async def _read_some(response: httpx.Response) -> bytes:
    """The start of an error body: enough to say why, never a whole runaway page."""
    body = b""
    async for data in response.aiter_bytes():
        body += data
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    return body[:_ERROR_BODY_LIMIT]


class _ErrorBody(msgspec.Struct):
    error: Any = None
    detail: Any = None  # FastAPI-style servers


def _server_message(body: bytes) -> str:
    """What the server said, from ``{"error": {"message"}}``, ``{"error": "..."}`` or text."""
    try:
        parsed = msgspec.json.decode(body, type=_ErrorBody)
        said = parsed.error or parsed.detail
        if isinstance(said, dict):
            said = said.get("message", said)
    except msgspec.DecodeError:
        said = body.decode("utf-8", errors="replace")
    text = " ".join(str(said or "").split())
    return text[:300] or "(no message)"


def _without_credentials(base_url: str) -> str:
    url = httpx.URL(base_url)
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))
