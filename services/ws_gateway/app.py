"""The gateway's HTTP edge: the Litestar app and its uvicorn server.

    /ws        the WebSocket (``?after_seq=N`` resumes after event N)
    /healthz   liveness
    /...       the files in ``static/`` (``index.html`` at ``/``): the chat UI

The ``/ws`` handler only authenticates and moves bytes; per-connection logic is the session's,
fan-out is the hub's. A refused token is still accepted and then closed with
``CloseCode.UNAUTHORIZED`` and a reason, because a browser cannot read a refused handshake's
HTTP status but does see a close code.
"""

from __future__ import annotations

import logging
import signal
import socket as socket_module
from pathlib import Path
from types import FrameType

import uvicorn
from litestar import Litestar, WebSocket, get, websocket
from litestar.static_files import create_static_files_router

from services.ws_gateway import auth
from services.ws_gateway.node import Node
from services.ws_gateway.session import Session
from services.ws_gateway.settings import GatewaySettings
from services.ws_gateway.transport import Connection
from shared.errors import CloseCode, Unauthorized
from shared.tokens import AccessClaims, TokenVerifier

__all__ = ["READY_LINE", "STATIC_DIR", "GatewayServer", "create_app", "create_server"]

log = logging.getLogger(__name__)

READY_LINE = "agentwire service ready: ws_gateway"
STATIC_DIR = Path(__file__).parent / "static"


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: GatewaySettings, node: Node | None = None) -> Litestar:
    """The Litestar app; it starts ``node`` on startup and stops it on shutdown."""
    node = node or Node(settings)
    token_verifier = auth.verifier(settings)

    @websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await serve_socket(socket, token_verifier, node)

    static = create_static_files_router(path="/", directories=[STATIC_DIR], html_mode=True)
    return Litestar(
        route_handlers=[healthz, ws, static],
        on_startup=[node.start],
        on_shutdown=[node.stop],
        logging_config=None,  # shared.logging owns the format; Litestar must not reconfigure it
    )


async def serve_socket(socket: WebSocket, verifier: TokenVerifier, node: Node) -> None:
    handshake = auth.read_handshake(socket.headers, socket.scope.get("subprotocols", ()))
    await socket.accept(subprotocols=handshake.subprotocol)
    try:
        claims = _verify(verifier, handshake.token)
    except Unauthorized as exc:
        log.info("socket from %s refused: %s", _peer(socket), exc.message)
        await socket.close(CloseCode.UNAUTHORIZED, exc.message[:120])
        return
    session = Session(claims.user_id, node.settings.limits)
    # A resume begins before the socket joins the hub, so that the session holds every live
    # event from its first one; the stream is read only once the user's live subscription is
    # in place: the two overlap instead of leaving a gap between them.
    opening = session.open(socket.query_params.get("after_seq"))
    conn = Connection(session, socket, node, close_timeout_s=node.settings.close_timeout_s)
    async with node.attached(conn):
        log.debug("user %s connected from %s", claims.user_id, _peer(socket))
        await conn.run(socket.receive, opening)
    log.debug("user %s disconnected (last seq %d)", claims.user_id, session.last_seq)


def _verify(verifier: TokenVerifier, token: str | None) -> AccessClaims:
    if token is None:
        raise Unauthorized("missing token")
    return verifier.verify(token)


def _peer(socket: WebSocket) -> str:
    client = socket.scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


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
        # The sans-I/O websockets protocol: the legacy "websockets" one is deprecated upstream.
        ws="websockets-sansio",
        ws_max_size=settings.max_message_bytes,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        # No permessage-deflate: a zlib context per socket costs far more memory than an idle
        # connection may, and compressing every frame for every socket costs CPU per fan-out.
        ws_per_message_deflate=False,
        lifespan="on",
        log_level="warning",
        log_config=None,
    )
    return GatewayServer(config, node)
