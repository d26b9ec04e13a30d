"""One AG-UI server, over HTTP: a ``RunAgentInput`` POSTed, its SSE stream read as AG-UI events.

::

    async with AguiClient("http://127.0.0.1:8000/agent") as server:
        async with aclosing(server.run(run_input)) as events:
            async for event in events:     # agui_wire events; types agentwire ignores skipped
                ...

A request that fails before any event was yielded (HTTP 429, 408, 5xx, a connect error, a
timeout) is retried as ``Retries`` says, honouring ``Retry-After``; once an event has been
yielded nothing is retried, since the user has already seen it. ``Timeouts.read_s`` is the
longest silence allowed between two pieces of the stream. Cancelling the task that iterates
closes the HTTP response at once: the server sees the disconnect (AG-UI's way to abort a run).
The API key travels in one header only; the endpoint is named without credentials or query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Self

import httpx

from services.agent.agents import agui_wire as wire
from services.agent.agents.agui_errors import (
    AguiError,
    AguiProtocolError,
    AguiUnavailable,
    error_for_status,
)
from services.agent.llm.client import Timeouts
from services.agent.llm.retry import Retries, retry_after_s
from services.agent.llm.sse import EventTooLong, SseDecoder

__all__ = ["AguiClient"]

log = logging.getLogger(__name__)

_ERROR_BODY_LIMIT = 4 * 1024
_TIMEOUTS, _RETRIES = Timeouts(), Retries()


class AguiClient:
    """The client of one AG-UI endpoint; one per agent, shared by its runs."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeouts: Timeouts = _TIMEOUTS,
        retries: Retries = _RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.endpoint = _without_credentials(url)
        self._api_key = api_key or ""
        self._timeouts, self._retries = timeouts, retries
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            headers=headers, timeout=timeouts.for_httpx(), transport=transport
        )

    @staticmethod
    def describe(url: str) -> str:
        """The endpoint as messages name it: without credentials, query or fragment."""
        return _without_credentials(url)

    def __repr__(self) -> str:
        return f"AguiClient({self.endpoint!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self, run_input: wire.RunAgentInput) -> AsyncIterator[wire.AguiEvent]:
        """The run's events, as the server streams them; raises an ``AguiError``."""
        body = wire.encode_input(run_input)
        retries_done = 0
        while True:
            yielded = False
            try:
                async with aclosing(self._attempt(body)) as events:
                    async for event in events:
                        yielded = True
                        yield event
                return
            except AguiUnavailable as error:
                delay = None if yielded else self._retries.delay(retries_done, error.retry_after)
                if delay is None:
                    raise
                retries_done += 1
                log.warning("%s; retry %d in %.2f s", error.message, retries_done, delay)
                await asyncio.sleep(delay)

    async def _attempt(self, body: bytes) -> AsyncIterator[wire.AguiEvent]:
        try:
            async with self._http.stream("POST", self.url, content=body) as response:
                if response.status_code != 200:
                    raise await self._refusal(response)
                self._expect_event_stream(response)
                async with aclosing(self._events(response)) as events:
                    async for event in events:
                        yield event
        except httpx.TimeoutException as error:
            raise AguiUnavailable(f"{self.endpoint} timed out ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise AguiUnavailable(f"{self.endpoint} could not be reached: {error}") from None

    async def _events(self, response: httpx.Response) -> AsyncIterator[wire.AguiEvent]:
        decoder = SseDecoder()
        try:
            async for data in response.aiter_bytes():
                for sse in decoder.feed(data):
                    event = wire.decode_event(sse.data)
                    if event is not None:
                        yield event
        except httpx.ReadTimeout:
            silence = self._timeouts.read_s
            raise AguiUnavailable(f"{self.endpoint} sent nothing for {silence:g} s") from None
        except httpx.TransportError as error:
            raise AguiProtocolError(f"{self.endpoint} cut the stream: {error}") from None
        except (EventTooLong, wire.WireError) as error:
            raise AguiProtocolError(f"{self.endpoint} sent {error}") from None

    def _expect_event_stream(self, response: httpx.Response) -> None:
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            said = kind or "no content type"
            raise AguiProtocolError(f"{self.endpoint} answered {said}, not an AG-UI event stream")

    async def _refusal(self, response: httpx.Response) -> AguiError:
        said = await _read_some(response)
        text = " ".join(said.decode("utf-8", errors="replace").split())[:300] or "(no message)"
        if self._api_key:  # a server may echo what it refused
            text = text.replace(self._api_key, "***")
        message = f"{self.endpoint} answered HTTP {response.status_code}: {text}"
        return error_for_status(response.status_code, message, retry_after_s(response.headers))


async def _read_some(response: httpx.Response) -> bytes:
    """The start of an error body: enough to say why, never a whole runaway page."""
    body = b""
    async for data in response.aiter_bytes():
        body += data
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    return body[:_ERROR_BODY_LIMIT]


def _without_credentials(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))
