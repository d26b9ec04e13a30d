"""AG-UI 1.0 over HTTP: the gateway serves agentwire runs to any AG-UI client (CopilotKit, ...).

    POST /agui          a RunAgentInput -> 200 text/event-stream of AG-UI events, or an HTTP error
                        before any stream: 400 (not a RunAgentInput, a bad Last-Event-ID or resume
                        payload), 401 (token), 403 (origin), 404 (an interrupt that is not the
                        user's), 422 (ids, no user message, unknown agent), 503 (NATS or agents
                        away: nothing was stored)
    POST /agui/cancel   {"runId", "threadId"?} -> 200 {"runId", "state"}: agentwire's cancel

The same bearer token as the WebSocket, in ``Authorization`` only (a token in the URL is refused,
as on the WebSocket); the same origins (``ALLOWED_ORIGINS``, see
:func:`~services.ws_gateway.auth.origin_allowed`): a page of another origin is refused with 403,
and CORS (preflight included) is the app's, for the allowed origins (``app._cors``). What a
request does is in :mod:`~services.ws_gateway.agui_runs`; what a run looks like as AG-UI events in
:mod:`~services.ws_gateway.agui_projection`. A client that drops its request does not stop the
run (AG-UI calls that a truncated run); it re-requests with ``Last-Event-ID`` to go on, or
stops the run with ``/agui/cancel``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from services.ws_gateway import sse
from services.ws_gateway.agui_runs import AguiRefused, AguiRuns
from services.ws_gateway.agui_wire import decode_input
from services.ws_gateway.auth import origin_allowed, read_handshake
from services.ws_gateway.authority import TokenRevoked
from services.ws_gateway.node import Node, NodeState
from shared.errors import ErrorCode, Unauthorized

__all__ = ["PATH", "agui_routes"]

PATH = "/agui"
CANCEL_PATH = "/agui/cancel"
_URL_TOKENS = ("token", "access_token")
_FOREIGN = AguiRefused(403, ErrorCode.UNAUTHORIZED, "this origin may not call the gateway")
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _CancelBody(msgspec.Struct, rename="camel"):
    run_id: str
    thread_id: str | None = None


def agui_routes(node: Node) -> list[HTTPRouteHandler]:
    """The AG-UI routes of ``node``'s gateway."""
    runs = AguiRuns(node)

    @post(PATH, status_code=200)
    async def run(request: Request[Any, Any, Any]) -> Response[Any]:
        if not _origin_allowed(request, node):
            return _refusal(_FOREIGN)
        try:
            user_id = await _user(request, node)
            body = await request.body()
            try:
                run_input = decode_input(body)
            except msgspec.DecodeError as exc:
                raise AguiRefused(
                    400, ErrorCode.INVALID_REQUEST, f"not a RunAgentInput: {exc}"
                ) from None
            opened = await runs.open(user_id, run_input, request.headers.get("last-event-id"))
        except AguiRefused as refused:
            return _refusal(refused)
        stream = runs.follow(opened, node.settings.heartbeat_interval_s or 15.0)
        return Stream(stream, media_type=sse.CONTENT_TYPE, headers=_STREAM_HEADERS)

    @post(CANCEL_PATH, status_code=200)
    async def cancel(request: Request[Any, Any, Any]) -> Response[Any]:
        if not _origin_allowed(request, node):
            return _refusal(_FOREIGN)
        try:
            user_id = await _user(request, node)
            try:
                body = msgspec.json.decode(await request.body(), type=_CancelBody)
            except msgspec.DecodeError as exc:
                raise AguiRefused(
                    400, ErrorCode.INVALID_REQUEST, f"expected {{runId}}: {exc}"
                ) from None
            accepted = await runs.cancel(user_id, body.run_id, body.thread_id)
        except AguiRefused as refused:
            return _refusal(refused)
        content = {"runId": accepted.run_id, "state": accepted.state}
        return Response(content, status_code=200)

    return [run, cancel]


def _origin_allowed(request: Request[Any, Any, Any], node: Node) -> bool:
    """A page of another origin than the allowed ones is refused before anything is done."""
    origin, host = request.headers.get("origin"), request.headers.get("host")
    return origin_allowed(origin, host, node.settings.allowed_origins)


async def _user(request: Request[Any, Any, Any], node: Node) -> str:
    """The user id of the request's bearer token."""
    if node.state is not NodeState.RUNNING:
        raise AguiRefused(503, ErrorCode.NO_AGENT_AVAILABLE, "the gateway is restarting; retry")
    if any(name in request.query_params for name in _URL_TOKENS):
        message = "tokens are refused in the URL; send Authorization: Bearer <token>"
        raise AguiRefused(401, ErrorCode.UNAUTHORIZED, message)
    token = read_handshake(request.headers, []).token
    try:
        claims = await node.authenticate(token)
    except TokenRevoked as exc:
        raise AguiRefused(401, ErrorCode.SESSION_REVOKED, exc.message) from None
    except Unauthorized as exc:
        raise AguiRefused(401, ErrorCode.UNAUTHORIZED, exc.message[:120]) from None
    return claims.user_id


def _refusal(refused: AguiRefused) -> Response[Any]:
    body = {"error": {"code": refused.code, "message": refused.message}}
    headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else {}
    return Response(body, status_code=refused.status, headers=headers)
