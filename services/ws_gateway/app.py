"""The gateway's HTTP edge: uvicorn, with Litestar for HTTP and the gateway's own WebSocket.

    /ws        the WebSocket (``?after_seq=N`` resumes after event N): :mod:`~.edge`
    /events    the same protocol over SSE (GET) and POST, where WebSockets are blocked:
               :mod:`~.eventstream`
    /agui      AG-UI 1.0 (POST a RunAgentInput, get the run as AG-UI events; /agui/cancel):
               :mod:`~.agui`
    /healthz   liveness
    /metrics   Prometheus metrics (:mod:`~.metrics`; 404 with ``METRICS_ENABLED=false``)
    /...       the files in ``static/`` (``index.html`` at ``/``): the chat UI

uvicorn parses every request; plain HTTP goes to the Litestar app, and an upgrade request is
handed to :class:`~services.ws_gateway.edge.WebSocketEdge` (uvicorn's ``ws=`` protocol class),
which speaks WebSocket on the transport itself: see that module for why and for the handshake.
"""

from __future__ import annotations

import functools
import signal
import socket as socket_module
from pathlib import Path
from types import FrameType

import uvicorn
from litestar import Litestar, Response, get
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.static_files import create_static_files_router

from services.ws_gateway.agui import agui_routes
from services.ws_gateway.edge import WebSocketEdge
from services.ws_gateway.eventstream import event_stream, post_frame
from services.ws_gateway.metrics import GATEWAY
from services.ws_gateway.node import Node
from services.ws_gateway.settings import GatewaySettings
from shared.metrics import CONTENT_TYPE

__all__ = ["READY_LINE", "STATIC_DIR", "GatewayServer", "create_app", "create_server"]

READY_LINE = "agentwire service ready: ws_gateway"
STATIC_DIR = Path(__file__).parent / "static"


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/metrics", sync_to_thread=False)
def metrics() -> Response[bytes]:
    if not GATEWAY.enabled:
        raise NotFoundException("metrics are off (METRICS_ENABLED=false)")
    return Response(GATEWAY.registry.render_now(), media_type=CONTENT_TYPE)


def create_app(settings: GatewaySettings, node: Node | None = None) -> Litestar:
    """The Litestar app; it starts ``node`` on startup and stops it on shutdown."""
    node = node or Node(settings)

    static = create_static_files_router(path="/", directories=[STATIC_DIR], html_mode=True)
    return Litestar(
        route_handlers=[healthz, metrics, event_stream, post_frame, *agui_routes(node), static],
        dependencies={"node": Provide(lambda: node, sync_to_thread=False)},
        # /events from a page on another allowed origin (with ALLOWED_ORIGINS set; the default,
        # the gateway's own page, is same-origin and needs none)
        cors_config=_cors(settings),
        on_startup=[node.start],
        on_shutdown=[node.stop],
        logging_config=None,  # shared.logging owns the format; Litestar must not reconfigure it
    )


def _cors(settings: GatewaySettings) -> CORSConfig | None:
    if not settings.allowed_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        max_age=600,
    )


class GatewayServer(uvicorn.Server):
    """uvicorn, plus what a supervised gateway needs around it.

    - Sockets are closed with ``SERVER_RESTART`` (4000, "reconnect") *before* uvicorn's own
      shutdown, which would otherwise close them first with 1012.
    - One ready line on stdout once the port is bound: the process supervisor waits for it.
    - SIGTERM/SIGINT are the normal way to stop, so the process exits 0 instead of uvicorn
      re-raising the signal after shutdown.
    """

    def __init__(self, config: uvicorn.Config, node: Node) -> None:
        super().__init__(config)
        self.node = node

    @property
    def port(self) -> int:
        """The bound port (useful when configured with port 0)."""
        sock: socket_module.socket = self.servers[0].sockets[0]
        return int(sock.getsockname()[1])

    async def startup(self, sockets: list[socket_module.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"{READY_LINE} ws://{self.config.host}:{self.port}/ws", flush=True)

    async def shutdown(self, sockets: list[socket_module.socket] | None = None) -> None:
        await self.node.stop()  # sockets get 4000 and new ones are turned away; idempotent
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:  # a second Ctrl-C: stop waiting
            self.force_exit = True
        else:
            self.should_exit = True


def create_server(settings: GatewaySettings, node: Node | None = None) -> GatewayServer:
    """The gateway app on a uvicorn server configured from ``settings``."""
    node = node or Node(settings)
    config = uvicorn.Config(
        create_app(settings, node),
        host=settings.host,
        port=settings.port,
        # Upgrade requests go to the gateway's own WebSocket edge, built with the node. It
        # offers no permessage-deflate: a zlib context per socket costs far more memory than an
        # idle connection may, and compressing every frame for every socket costs CPU per event.
        ws=functools.partial(WebSocketEdge, node=node),  # type: ignore[arg-type]
        lifespan="on",
        log_level="warning",
        log_config=None,
    )
    return GatewayServer(config, node)
