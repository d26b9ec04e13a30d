"""The gateway's HTTP edge: the Litestar app and its uvicorn server.

    /ws        the WebSocket (``?after_seq=N`` resumes after event N)
    /healthz   liveness
    /...       the files in ``static/`` (``index.html`` at ``/``): the chat UI

The ``/ws`` handler only authenticates and moves bytes; per-connection logic is the session's,
fan-out is the hub's. In order, a handshake is:

1. refused with HTTP 403 when its ``Origin`` is not allowed (a page on another site trying to
   use a token it got hold of; only browsers send ``Origin``, and only a browser's page is the
   threat here, so a request without one is a non-browser client and passes);
2. accepted, then closed with ``UNAUTHORIZED`` (4401) and a reason when the token is missing,
   invalid or expired, or was put in the URL (``?token=``: URLs end up in logs and histories);
   with ``SESSION_REVOKED`` (4403) when its session was revoked. A browser cannot read a refused
   handshake's HTTP status but does see a close code and reason;
3. served.

Tokens never reach a log line: only the refusal's reason is logged, never the token.
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
from services.ws_gateway.authority import TokenRevoked
from services.ws_gateway.guard import Credentials
from services.ws_gateway.node import Node
from services.ws_gateway.session import Session
from services.ws_gateway.settings import GatewaySettings
from services.ws_gateway.transport import Connection
from shared.errors import CloseCode, Unauthorized

__all__ = [
    "ORIGIN_REFUSED_STATUS",
    "READY_LINE",
    "STATIC_DIR",
    "TOKEN_IN_URL_REASON",
    "GatewayServer",
    "create_app",
    "create_server",
    "origin_allowed",
]

log = logging.getLogger(__name__)

READY_LINE = "agentwire service ready: ws_gateway"
STATIC_DIR = Path(__file__).parent / "static"
TOKEN_IN_URL_REASON = "tokens are refused in the URL; send Authorization or Sec-WebSocket-Protocol"
# uvicorn answers a WebSocket closed before it was accepted with HTTP 403.
ORIGIN_REFUSED_STATUS = 403
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: GatewaySettings, node: Node | None = None) -> Litestar:
    """The Litestar app; it starts ``node`` on startup and stops it on shutdown."""
    node = node or Node(settings)

    @websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await serve_socket(socket, node)

    static = create_static_files_router(path="/", directories=[STATIC_DIR], html_mode=True)
    return Litestar(
        route_handlers=[healthz, ws, static],
        on_startup=[node.start],
        on_shutdown=[node.stop],
        logging_config=None,  # shared.logging owns the format; Litestar must not reconfigure it
    )


async def serve_socket(socket: WebSocket, node: Node) -> None:
    settings = node.settings
    origin = socket.headers.get("origin")
    if not origin_allowed(origin, socket.headers.get("host"), settings.allowed_origins):
        log.info("socket from %s refused: origin %r not allowed", _peer(socket), origin[:100])
        await socket.close(code=1008)  # before accept: uvicorn answers 403
        return
    handshake = auth.read_handshake(socket.headers, socket.scope.get("subprotocols", ()))
    await socket.accept(subprotocols=handshake.subprotocol)
    try:
        if "token" in socket.query_params or "access_token" in socket.query_params:
            raise Unauthorized(TOKEN_IN_URL_REASON)
        claims = await node.authenticate(handshake.token)
    except Unauthorized as exc:
        code = (
            CloseCode.SESSION_REVOKED if isinstance(exc, TokenRevoked) else CloseCode.UNAUTHORIZED
        )
        log.info("socket from %s refused: %s", _peer(socket), exc.message)
        await socket.close(code, exc.message[:120])
        return
    credentials = Credentials(
        claims, grace_s=settings.token_expiry_grace_s, warning_s=settings.token_expiry_warning_s
    )
    session = Session(
        claims.user_id, settings.limits, credentials=credentials, rate=settings.rate_limits
    )
    # A resume begins before the socket joins the hub, so that the session holds every live
    # event from its first one; the stream is read only once the user's live subscription is
    # in place: the two overlap instead of leaving a gap between them.
    opening = session.open(socket.query_params.get("after_seq"))
    conn = Connection(session, socket, node, close_timeout_s=settings.close_timeout_s)
    async with node.attached(conn):
        log.debug("user %s connected from %s", claims.user_id, _peer(socket))
        await conn.run(socket.receive, opening)
    log.debug("user %s disconnected (last seq %d)", claims.user_id, session.last_seq)


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a handshake's ``Origin`` may open a socket.

    No ``Origin``: not a browser, allowed. ``allowed`` empty (the default): only the gateway's
    own page, and only on loopback (``http://127.0.0.1:<port>``, ``http://localhost:<port>``), so
    a rebound DNS name pointing at us does not count as our own origin. ``*``: any origin.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if allowed:
        return "*" in allowed or origin in allowed
    if not host:
        return False
    host = host.lower()
    hostname = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return hostname in _LOOPBACK_HOSTS and origin in (f"http://{host}", f"https://{host}")


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
