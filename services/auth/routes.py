"""The auth service's HTTP routes: decode the body, call the service, encode the answer.

Every handler gets one :class:`Edge` (the service and what the edge itself checks: bearer
tokens, the admin key, the key ring) by dependency injection, so a test can build its own.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException

from services.auth.bodies import parse_body, parse_credentials
from services.auth.keys import KeyRingSource
from services.auth.metrics import AUTH, counted
from services.auth.proxies import TrustedProxies
from services.auth.ratelimit import FailureBudget
from services.auth.service import AuthService, TokenPair
from shared.errors import Unauthorized
from shared.metrics import CONTENT_TYPE
from shared.tokens import AccessClaims, KeySetVerifier
from shared.wire.auth import (
    AdminRevoke,
    Credentials,
    LoginCredentials,
    PasswordChange,
    RefreshRequest,
    Registered,
    TokenResponse,
)
from shared.wire.keys import encode_jwks

__all__ = ["ADMIN_KEY_HEADER", "JWKS_PATH", "ROUTES", "BearerRefused", "Edge"]

JWKS_PATH = "/.well-known/jwks.json"
ADMIN_KEY_HEADER = "X-Admin-Key"
# Short: a retired key must leave HTTP caches soon after it leaves the ring.
_JWKS_CACHE_CONTROL = "public, max-age=60"


class BearerRefused(Unauthorized):
    """A missing or refused bearer token: the 401 that says ``WWW-Authenticate: Bearer``."""


@dataclass
class Edge:
    auth: AuthService
    verifier: KeySetVerifier  # the service's own keys: checks bearer tokens sent to it
    keys: KeyRingSource
    admin_failures: FailureBudget  # wrong admin keys per client address
    proxies: TrustedProxies
    admin_api_key: str | None = field(default=None, repr=False)


def client_address(request: Request, proxies: TrustedProxies) -> str:
    """The TCP peer, or the client a trusted proxy names in ``X-Forwarded-For``."""
    peer = request.client.host if request.client else "unknown"
    return proxies.client_address(peer, request.headers.getall("x-forwarded-for", []))


def _bearer(request: Request, verifier: KeySetVerifier) -> AccessClaims:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BearerRefused("missing bearer token (Authorization: Bearer <access_token>)")
    try:
        return verifier.verify(token.strip())
    except Unauthorized as exc:
        raise BearerRefused(exc.message) from None


async def _check_admin(request: Request, edge: Edge) -> None:
    if edge.admin_api_key is None:
        raise NotFoundException()  # disabled: as if the route did not exist
    # Failures per address, in their own window: a guesser is stopped, logins are untouched.
    async with edge.admin_failures.attempt(client_address(request, edge.proxies)) as attempt:
        given = request.headers.get(ADMIN_KEY_HEADER, "").encode()
        # Constant time: how long the comparison takes says nothing about how much was right.
        if not hmac.compare_digest(given, edge.admin_api_key.encode()):
            attempt.failed()
            raise Unauthorized(f"missing or wrong {ADMIN_KEY_HEADER}")


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access.token,
        expires_in=pair.access.expires_in,
        refresh_token=pair.refresh_token,
        refresh_expires_in=pair.refresh_expires_in,
    )


@post("/auth/register", status_code=201)
async def register(request: Request, edge: NamedDependency[Edge]) -> Registered:
    with counted(AUTH.registrations):
        credentials = parse_credentials(await request.body(), Credentials)
        user = await edge.auth.register(credentials.email, credentials.password)
    return Registered(user_id=user.id, email=user.email)


@post("/auth/login", status_code=200)
async def login(request: Request, edge: NamedDependency[Edge]) -> TokenResponse:
    with counted(AUTH.logins):
        credentials = parse_credentials(await request.body(), LoginCredentials)
        pair = await edge.auth.login(
            credentials.email, credentials.password, address=client_address(request, edge.proxies)
        )
    return _tokens(pair)


@post("/auth/refresh", status_code=200)
async def refresh(request: Request, edge: NamedDependency[Edge]) -> TokenResponse:
    with counted(AUTH.refreshes):
        body = parse_body(await request.body(), RefreshRequest)
        return _tokens(await edge.auth.refresh(body.refresh_token))


@post("/auth/logout", status_code=204)
async def logout(request: Request, edge: NamedDependency[Edge]) -> None:
    body = parse_body(await request.body(), RefreshRequest)
    await edge.auth.logout(body.refresh_token)


@post("/auth/password", status_code=200)
async def change_password(request: Request, edge: NamedDependency[Edge]) -> TokenResponse:
    claims = _bearer(request, edge.verifier)
    body = parse_body(await request.body(), PasswordChange)
    pair = await edge.auth.change_password(
        claims,
        body.old_password,
        body.new_password,
        address=client_address(request, edge.proxies),
    )
    return _tokens(pair)


@post("/auth/admin/revoke", status_code=204)
async def admin_revoke(request: Request, edge: NamedDependency[Edge]) -> None:
    await _check_admin(request, edge)
    body = parse_body(await request.body(), AdminRevoke)
    await edge.auth.revoke_user(body.user_id)


@get(JWKS_PATH)
async def jwks(edge: NamedDependency[Edge]) -> Response[bytes]:
    return Response(
        encode_jwks(edge.keys.ring.jwks()),
        media_type="application/json",
        headers={"Cache-Control": _JWKS_CACHE_CONTROL},
    )


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/metrics", sync_to_thread=False)
def metrics() -> Response[bytes]:
    return Response(AUTH.registry.render_now(), media_type=CONTENT_TYPE)


ROUTES = [register, login, refresh, logout, change_password, admin_revoke, jwks, healthz, metrics]
