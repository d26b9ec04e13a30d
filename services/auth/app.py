"""The auth service's HTTP app: its parts wired together, its errors, its lifespan.

Every failure, ours or Litestar's, leaves as ``{"error": {"code", "message"}}`` with the status
from :data:`STATUS_BY_CODE` (and ``Retry-After`` on a 429). The lifespan brings the schema up to
date (or checks it is), connects to NATS to answer ``auth.jwks`` and publish revocations, and
re-reads a key ring directory every ``JWT_KEYS_RELOAD_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import uvicorn
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.auth import migrate
from services.auth.bodies import parse_credentials
from services.auth.bus import Announcer, AuthBus
from services.auth.keys import KeyRingSource
from services.auth.passwords import PasswordHasher
from services.auth.proxies import TrustedProxies
from services.auth.ratelimit import FailureBudget, LoginLimiter, RateLimited
from services.auth.refresh_repository import RefreshRepository
from services.auth.repository import UserRepository, open_engine
from services.auth.routes import ROUTES, BearerRefused, Edge
from services.auth.service import AuthService
from services.auth.settings import AuthSettings
from services.auth.tokens import TokenIssuer
from shared.bus import connect, ensure_stream, revocations_stream_config
from shared.errors import AgentwireError, ErrorCode
from shared.settings import SettingsError
from shared.tokens import KeySetVerifier
from shared.wire.auth import ErrorBody

__all__ = ["MAX_BODY_BYTES", "STATUS_BY_CODE", "create_app", "parse_credentials", "server_config"]

log = logging.getLogger(__name__)
# Revocations are kept this much longer than an access token lives (clock skew, slow gateways).
REVOCATION_LEEWAY_S = 60

# Every body here is well under 2 KiB; refuse anything far larger before reading it all.
MAX_BODY_BYTES = 16 * 1024

STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.INVALID_REFRESH_TOKEN: 401,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.RATE_LIMITED: 429,
}


def _error(
    code: ErrorCode, message: str, status: int, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    body = ErrorBody(error={"code": code.value, "message": message})
    return Response(body, status_code=status, headers=headers)


def _agentwire_error(_: Request, exc: AgentwireError) -> Response[ErrorBody]:
    headers = None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after_s)}
    elif isinstance(exc, BearerRefused):
        headers = {"WWW-Authenticate": "Bearer"}
    return _error(exc.code, exc.message, STATUS_BY_CODE.get(exc.code, 500), headers)


def _http_error(request: Request, exc: HTTPException) -> Response[ErrorBody]:
    """Litestar's own refusals (404, 405, 413, ...) in our body shape, keeping e.g. ``Allow``."""
    if exc.status_code >= 500:
        return _unexpected_error(request, exc)
    return _error(ErrorCode.INVALID_REQUEST, exc.detail, exc.status_code, exc.headers)


def _unexpected_error(_: Request, exc: Exception) -> Response[ErrorBody]:
    # The traceback goes to the log; the client learns nothing about the internals.
    log.error("unhandled error", exc_info=exc)
    return _error(ErrorCode.INTERNAL, "internal error", 500)


async def _reload_keys_forever(
    keys: KeyRingSource, verifier: KeySetVerifier, announcer: Announcer, every_s: float
) -> None:
    """Pick up added and retired keys without a restart, and tell the gateways at once."""
    while True:
        await asyncio.sleep(every_s)
        if keys.reload():
            jwks = keys.ring.jwks()
            verifier.replace(jwks)
            await announcer.keys_changed(jwks)


@asynccontextmanager
async def _nats(settings: AuthSettings, edge: Edge, announcer: Announcer) -> AsyncIterator[None]:
    if settings.nats is None:
        yield
        return
    nc = await connect(settings.nats, "auth")
    # Revocations are kept as long as a token they cover can live, for gateways that missed them.
    keep_s = settings.access_token_ttl_s + REVOCATION_LEEWAY_S
    await ensure_stream(nc.jetstream(), revocations_stream_config(settings.nats, keep_s))
    bus = AuthBus(nc, lambda: edge.keys.ring.jwks())
    await bus.start()
    announcer.attach(bus)
    try:
        yield
    finally:
        announcer.detach()
        await bus.stop()
        await nc.drain()


def _lifespan(
    settings: AuthSettings, engine: AsyncEngine, edge: Edge, announcer: Announcer
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            if settings.migrate_on_start:
                await migrate.upgrade(engine)
            else:
                await migrate.check_at_head(engine)
            async with _nats(settings, edge, announcer):
                reloader = None
                if edge.keys.reloadable:
                    reloader = asyncio.create_task(
                        _reload_keys_forever(
                            edge.keys, edge.verifier, announcer, settings.keys_reload_s
                        )
                    )
                try:
                    yield
                finally:
                    if reloader is not None:
                        reloader.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await reloader
        finally:
            await engine.dispose()

    return lifespan


def _key_source(settings: AuthSettings) -> KeyRingSource:
    variable = "JWT_KEYS_DIR" if settings.keys_dir is not None else "JWT_PRIVATE_KEY_FILE"
    where = settings.keys_dir or settings.private_key_file
    try:
        return KeyRingSource(keys_dir=settings.keys_dir, key_file=settings.private_key_file)
    except (OSError, ValueError) as exc:
        raise SettingsError(
            f"environment variable {variable}: cannot read Ed25519 keys from {where}: {exc}"
        ) from None


def _edge(
    settings: AuthSettings, engine: AsyncEngine, passwords: PasswordHasher, announcer: Announcer
) -> Edge:
    keys = _key_source(settings)
    issuer = TokenIssuer(
        keys.signing_key,
        issuer=settings.issuer,
        audience=settings.audience,
        ttl_s=settings.access_token_ttl_s,
    )
    limiter = LoginLimiter(
        per_account=settings.login_max_per_account,
        per_address=settings.login_max_per_address,
        window_s=settings.login_window_s,
    )
    service = AuthService(
        users=UserRepository(engine),
        sessions=RefreshRepository(engine),
        passwords=passwords,
        tokens=issuer,
        notifier=announcer,
        limiter=limiter,
        refresh_ttl_s=settings.refresh_token_ttl_s,
    )
    verifier = KeySetVerifier(keys.ring.jwks(), issuer=settings.issuer, audience=settings.audience)
    admin_failures = FailureBudget(
        settings.login_max_per_account,
        settings.login_window_s,
        refusal="too many wrong admin keys from this address",
    )
    return Edge(
        auth=service,
        verifier=verifier,
        keys=keys,
        admin_failures=admin_failures,
        proxies=TrustedProxies(settings.trusted_proxies),
        admin_api_key=settings.admin_api_key,
    )


def create_app(settings: AuthSettings, *, passwords: PasswordHasher | None = None) -> Litestar:
    """The auth app. Reads the keys and checks the database URL now, before any port opens.

    Raises SettingsError naming the variable at fault. ``passwords`` lets a test use cheaper
    hashing parameters.
    """
    try:
        engine = open_engine(settings.database_url)
    except (OSError, ValueError) as exc:
        # The message never repeats the URL: it may hold a database password.
        raise SettingsError(f"environment variable DATABASE_URL: {exc}") from None
    announcer = Announcer()
    edge = _edge(settings, engine, passwords or PasswordHasher(), announcer)

    async def provide_edge() -> Edge:
        return edge

    return Litestar(
        route_handlers=ROUTES,
        dependencies={"edge": Provide(provide_edge)},
        exception_handlers={
            AgentwireError: _agentwire_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=[_lifespan(settings, engine, edge, announcer)],
        # The browser chat is served by the gateway, another origin: let it call the account
        # routes. Not the admin key header: the admin route is for operators, not pages.
        cors_config=CORSConfig(
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization"],
            max_age=600,
        ),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # shared.logging owns the root logger
        openapi_config=None,  # the contract lives in shared/wire/auth.py and docs/protocol.md
    )


def server_config(app: Litestar, settings: AuthSettings) -> uvicorn.Config:
    """uvicorn for ``app``: what ``python -m services.auth`` serves, and the tests too."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        log_config=None,  # shared.logging owns the root logger, as for the gateway
        lifespan="on",
        # The client address is this service's to decide (TRUSTED_PROXIES, services/auth/
        # proxies.py). uvicorn's own proxy handling would otherwise believe X-Forwarded-For
        # from 127.0.0.1 (FORWARDED_ALLOW_IPS) before we see the request.
        proxy_headers=False,
    )
