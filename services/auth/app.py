"""The auth service's HTTP edge: bytes in, service call, body out.

Request bodies are decoded here with msgspec from the raw bytes (not by Litestar's signature
model) so a malformed body gets our own readable 400. Every failure, ours or Litestar's, leaves
as ``{"error": {"code", "message"}}`` with the status from :data:`STATUS_BY_CODE`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from sqlalchemy.ext.asyncio import AsyncEngine

from services.auth.passwords import PasswordHasher
from services.auth.repository import UserRepository, create_tables, open_engine
from services.auth.service import AuthService, InvalidRequest, normalise_email
from services.auth.settings import AuthSettings
from services.auth.tokens import TokenIssuer, load_private_key
from shared.errors import AgentwireError, ErrorCode
from shared.settings import SettingsError
from shared.wire.auth import Credentials, ErrorBody, LoginCredentials, Registered, TokenResponse

__all__ = ["MAX_BODY_BYTES", "STATUS_BY_CODE", "create_app", "parse_credentials"]

log = logging.getLogger(__name__)

# A credentials body is well under 2 KiB; refuse anything far larger before reading it all.
MAX_BODY_BYTES = 16 * 1024

STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.EMAIL_TAKEN: 409,
}

_Body = TypeVar("_Body", Credentials, LoginCredentials)

_LOCATION = re.compile(r"^(?P<what>.*) - at `\$\.?(?P<field>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]*)`$")


def _describe(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's "Expected ... - at `$.password`" into "password: Expected ..."."""
    if missing := _MISSING.match(str(exc)):
        return f"{missing['field']}: required field is missing"
    match = _LOCATION.match(str(exc))
    if match is None:
        return f"body: {exc}"
    what, field = match["what"], match["field"] or "body"
    if field == "email" and "regex" in what:
        what = "Expected an email address like `name@example.com`"
    return f"{field}: {what}"


def parse_credentials(raw: bytes, shape: type[_Body]) -> _Body:
    """Decode ``{"email", "password"}``, normalising the email first, or raise InvalidRequest."""
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("email"), str):
        data["email"] = normalise_email(data["email"])
    try:
        return msgspec.convert(data, shape)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(_describe(exc)) from None


def _error(
    code: ErrorCode, message: str, status: int, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    body = ErrorBody(error={"code": code.value, "message": message})
    return Response(body, status_code=status, headers=headers)


def _agentwire_error(_: Request, exc: AgentwireError) -> Response[ErrorBody]:
    return _error(exc.code, exc.message, STATUS_BY_CODE.get(exc.code, 500))


def _http_error(request: Request, exc: HTTPException) -> Response[ErrorBody]:
    """Litestar's own refusals (404, 405, 413, ...) in our body shape, keeping e.g. ``Allow``."""
    if exc.status_code >= 500:
        return _unexpected_error(request, exc)
    return _error(ErrorCode.INVALID_REQUEST, exc.detail, exc.status_code, exc.headers)


def _unexpected_error(_: Request, exc: Exception) -> Response[ErrorBody]:
    # The traceback goes to the log; the client learns nothing about the internals.
    log.error("unhandled error", exc_info=exc)
    return _error(ErrorCode.INTERNAL, "internal error", 500)


@post("/auth/register", status_code=201)
async def register(request: Request, auth: NamedDependency[AuthService]) -> Registered:
    credentials = parse_credentials(await request.body(), Credentials)
    user = await auth.register(credentials.email, credentials.password)
    return Registered(user_id=user.id, email=user.email)


@post("/auth/login", status_code=200)
async def login(request: Request, auth: NamedDependency[AuthService]) -> TokenResponse:
    credentials = parse_credentials(await request.body(), LoginCredentials)
    issued = await auth.login(credentials.email, credentials.password)
    return TokenResponse(access_token=issued.token, expires_in=issued.expires_in)


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _database_lifespan(
    engine: AsyncEngine,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Create the tables before the first request; close the pool after the last."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await create_tables(engine)
        try:
            yield
        finally:
            await engine.dispose()

    return lifespan


def _token_issuer(settings: AuthSettings) -> TokenIssuer:
    try:
        key = load_private_key(settings.private_key_file)
    except (OSError, ValueError) as exc:
        raise SettingsError(
            "environment variable JWT_PRIVATE_KEY_FILE: cannot read an Ed25519 key from "
            f"{settings.private_key_file}: {exc}"
        ) from None
    return TokenIssuer(
        key,
        issuer=settings.issuer,
        audience=settings.audience,
        ttl_s=settings.access_token_ttl_s,
    )


def create_app(settings: AuthSettings) -> Litestar:
    """The auth app. Reads the key and checks the database URL now, before any port opens.

    Raises SettingsError naming the variable at fault.
    """
    issuer = _token_issuer(settings)
    try:
        engine = open_engine(settings.database_url)
    except (OSError, ValueError) as exc:
        # The message never repeats the URL: it may hold a database password.
        raise SettingsError(f"environment variable DATABASE_URL: {exc}") from None
    service = AuthService(UserRepository(engine), PasswordHasher(), issuer)

    async def provide_auth() -> AuthService:
        return service

    return Litestar(
        route_handlers=[register, login, healthz],
        dependencies={"auth": Provide(provide_auth)},
        exception_handlers={
            AgentwireError: _agentwire_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        lifespan=[_database_lifespan(engine)],
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # shared.logging owns the root logger
        openapi_config=None,  # the contract lives in shared/wire/auth.py and docs/protocol.md
    )
