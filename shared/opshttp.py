"""The small HTTP listener of the services that have no HTTP of their own (agent, tool runner).

    GET /healthz   200 while the process runs (liveness)
    GET /readyz    200 when ready() says nothing is wrong, else 503 naming what is (readiness)
    GET /metrics   the Prometheus text format

Plain asyncio, one request per connection: it is read by a scraper and a probe a few times a
minute, so it needs no web framework, and it must keep answering while NATS is away (that is
when ``/readyz`` matters most).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.micro.service import Service

from shared import discovery
from shared.metrics import CONTENT_TYPE, Registry
from shared.settings import ObservabilitySettings, SettingsError

__all__ = ["OpsServer", "OpsSurface", "Ready"]

log = logging.getLogger(__name__)

# What is not ready, in words (None: ready).
Ready = Callable[[], Awaitable[str | None]]
_READ_LIMIT = 8192
_READ_WITHIN_S = 5.0
_READY_WITHIN_S = 2.0


class OpsServer:
    def __init__(self, registry: Registry | None, ready: Ready) -> None:
        self._registry = registry
        self._ready = ready
        self._server: asyncio.Server | None = None
        self.taken: int | None = None  # the default port, when it was taken

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, settings: ObservabilitySettings, variable: str) -> None:
        """Listen on the configured port; a default port that is taken falls back to any."""
        host, port = settings.http_host, settings.http_port
        try:
            self._server = await asyncio.start_server(self._serve, host, port)
        except OSError as exc:
            if settings.http_port_explicit or port == 0:
                raise SettingsError(f"environment variable {variable}: {exc}") from None
            self.taken = port  # said by where_line(), once the service is up
            self._server = await asyncio.start_server(self._serve, host, 0)

    def where_line(self, host: str) -> str:
        """Where it listens, for the service's log once it is up (nothing is logged before: a
        service still waiting for NATS logs its connect attempts first)."""
        taken = f" (port {self.taken} was taken)" if self.taken else ""
        return f"metrics and health on http://{host}:{self.port}{taken}"

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_WITHIN_S):
                head = await reader.readuntil(b"\r\n\r\n")
            status, kind, body = await self._answer(head[:_READ_LIMIT])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a probe that hung up or sent nothing useful
        finally:
            writer.close()

    async def _answer(self, head: bytes) -> tuple[str, str, bytes]:
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method != b"GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == b"/healthz":
            return "200 OK", "application/json", b'{"status":"ok"}'
        if path == b"/readyz":
            return await self._readiness()
        if path == b"/metrics" and self._registry is not None:
            try:
                return "200 OK", CONTENT_TYPE, await self._registry.render()
            except Exception:
                log.exception("could not render the metrics")
                return "500 Internal Server Error", "text/plain", b"metrics failed\n"
        return "404 Not Found", "text/plain", b"not found\n"

    async def _readiness(self) -> tuple[str, str, bytes]:
        try:
            problem = await asyncio.wait_for(self._ready(), _READY_WITHIN_S)
        except TimeoutError:
            problem = "the readiness check did not answer in time"
        except Exception as exc:
            problem = f"the readiness check failed: {exc!r}"
        if problem is None:
            return "200 OK", "application/json", b'{"status":"ready"}'
        body = json.dumps({"status": "not ready", "reason": problem}).encode()
        return "503 Service Unavailable", "application/json", body


class OpsSurface:
    """A service's operator surface: this listener, and its NATS Services API entry.

    Subclasses set ``_http``, ``_settings`` and ``_node`` (anything with an ``nc``) and name
    themselves (``PORT_VARIABLE``, ``SERVICE``, ``DESCRIPTION``)."""

    PORT_VARIABLE: str
    SERVICE: str
    DESCRIPTION: str
    _http: OpsServer
    _settings: ObservabilitySettings
    _discovery: Service | None = None

    @property
    def _nc(self) -> NATS | None:
        return self._node.nc  # type: ignore[attr-defined,no-any-return]

    @property
    def port(self) -> int:
        return self._http.port

    async def start(self) -> None:
        await self._http.start(self._settings, self.PORT_VARIABLE)

    async def announce(self) -> None:
        """Answer $SRV.PING/INFO/STATS as ``agentwire-<SERVICE>`` (once connected)."""
        log.info(self._http.where_line(self._settings.http_host))
        nc = self._nc
        if nc is not None:
            url = f"http://{self._settings.http_host}:{self.port}/metrics"
            self._discovery = await discovery.announce(
                nc, self.SERVICE, description=self.DESCRIPTION, metrics_url=url
            )

    async def withdraw(self) -> None:
        """Stop answering discovery (before the NATS connection drains)."""
        await discovery.withdraw(self._discovery)
        self._discovery = None

    async def stop(self) -> None:
        await self.withdraw()
        await self._http.stop()
