"""The ``fake_openai`` fixture: a fake OpenAI server process and a handle to script and read it.

Import the fixtures into the test module (or a conftest) that uses them::

    from tests.fakes.openai_fixture import fake_openai, fake_openai_url  # noqa: F401

    async def test_answer(fake_openai: FakeOpenAI) -> None:
        await fake_openai.script(reply(text("Hello!")))
        client = ChatClient(fake_openai.base_url, "sk-test", "gpt-test")
        ...
        bodies = await fake_openai.bodies()   # what the client sent, request by request

One server process serves the session; each test starts from an empty script and record. For a
service process under test, hand it ``fake_openai.base_url`` as ``LLM_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from tests.fakes.openai_script import Response, Script
from tests.fakes.process import serve

__all__ = ["FakeOpenAI", "fake_openai", "fake_openai_url"]


class FakeOpenAI:
    """A running fake OpenAI server: ``base_url`` for clients, the rest for the test."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = f"{url}/v1"  # what LLM_BASE_URL would be
        self._http = httpx.AsyncClient(base_url=url, timeout=5.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def script(self, *responses: Response) -> None:
        """Answer the next requests with these, in order; forget earlier requests."""
        body = msgspec.json.encode(Script(list(responses)))
        await self._call("POST", "/_script", content=body)

    async def requests(self) -> list[dict[str, Any]]:
        """Every chat request since the script was set: ``path``, ``headers``, ``body``."""
        return await self._call("GET", "/_requests")

    async def bodies(self) -> list[Any]:
        """The JSON bodies of those requests, in order."""
        return [request["body"] for request in await self.requests()]

    async def disconnects(self) -> list[int]:
        """Numbers (0-based) of the requests whose client hung up before the response ended."""
        return await self._call("GET", "/_disconnects")

    async def wait_for_disconnect(self, request: int = 0, timeout_s: float = 5.0) -> float:
        """Seconds until the server saw request ``request``'s client hang up; fails on timeout."""
        started = time.monotonic()
        async with asyncio.timeout(timeout_s):
            while request not in await self.disconnects():  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.02)
        return time.monotonic() - started

    async def _call(self, method: str, path: str, content: bytes | None = None) -> Any:
        response = await self._http.request(method, path, content=content)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def fake_openai_url() -> Iterator[str]:
    """The fake server's URL (no path); one process for the whole session."""
    with serve("tests.fakes.openai_server") as url:
        yield url


@pytest.fixture
async def fake_openai(fake_openai_url: str) -> AsyncIterator[FakeOpenAI]:
    """The fake server with an empty script: a request it was not told about gets a 400."""
    fake = FakeOpenAI(fake_openai_url)
    try:
        await fake.script()
        yield fake
    finally:
        await fake.aclose()
