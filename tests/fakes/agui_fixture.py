"""The ``agui_server`` fixture: a real AG-UI server process (``tests.fakes.agui_server``) and a
handle to read what it was sent and which requests were abandoned.

Import the fixtures into the test module that uses them::

    from tests.fakes.agui_fixture import AguiServer, agui_server, agui_server_url  # noqa: F401

One process serves the session; each test starts with an empty record. Hand a service process
``f"name={agui_server_url}/agent"`` as ``AGUI_AGENTS``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.process import serve

__all__ = ["AguiServer", "agui_server", "agui_server_url"]


class AguiServer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.endpoint = f"{url}/agent"
        self._http = httpx.AsyncClient(base_url=url, timeout=5.0)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def reset(self) -> None:
        await self._call("POST", "/_reset")

    async def bodies(self) -> list[Any]:
        """The RunAgentInput of every AG-UI request since the reset, in order."""
        return await self._call("GET", "/_requests")

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

    async def _call(self, method: str, path: str) -> Any:
        response = await self._http.request(method, path)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def agui_server_url() -> Iterator[str]:
    """The server's URL (no path); one process for the whole session."""
    with serve("tests.fakes.agui_server") as url:
        yield url


@pytest.fixture
async def agui_server(agui_server_url: str) -> AsyncIterator[AguiServer]:
    server = AguiServer(agui_server_url)
    try:
        await server.reset()
        yield server
    finally:
        await server.aclose()
