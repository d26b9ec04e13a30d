"""The auth service's settings, read once from the environment at start-up.

Defaults are module constants rather than dataclass class attributes: with ``slots=True`` a
class attribute is replaced by a slot descriptor, so ``cls.port`` would not be the default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from services.auth.proxies import Network, parse_networks
from shared.settings import Env, NatsSettings, SettingsError

__all__ = [
    "DEFAULT_ACCESS_TOKEN_TTL_S",
    "DEFAULT_AUDIENCE",
    "DEFAULT_CORS_ORIGINS",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_HOST",
    "DEFAULT_ISSUER",
    "DEFAULT_KEYS_RELOAD_S",
    "DEFAULT_LOGIN_MAX_PER_ACCOUNT",
    "DEFAULT_LOGIN_MAX_PER_ADDRESS",
    "DEFAULT_LOGIN_WINDOW_S",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_PORT",
    "DEFAULT_REFRESH_TOKEN_TTL_S",
    "DEFAULT_TRUSTED_PROXIES",
    "MIN_ADMIN_API_KEY_CHARS",
    "AuthSettings",
    "database_url_from_env",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/auth.db"
DEFAULT_ISSUER = "agentwire-auth"
DEFAULT_AUDIENCE = "agentwire"
DEFAULT_ACCESS_TOKEN_TTL_S = 900
DEFAULT_REFRESH_TOKEN_TTL_S = 14 * 24 * 3600
DEFAULT_KEYS_RELOAD_S = 30.0
DEFAULT_LOGIN_MAX_PER_ACCOUNT = 10
DEFAULT_LOGIN_MAX_PER_ADDRESS = 100
DEFAULT_LOGIN_WINDOW_S = 300.0
DEFAULT_LOG_LEVEL = "INFO"
# Empty: X-Forwarded-For is ignored and the client address is the TCP peer.
DEFAULT_TRUSTED_PROXIES = ""
# An admin key short enough to guess is worse than none: refuse it at start-up.
MIN_ADMIN_API_KEY_CHARS = 32
# The browser chat is served by the gateway (port 8002) and calls this service from there.
DEFAULT_CORS_ORIGINS = "http://127.0.0.1:8002,http://localhost:8002"
_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Exactly one of ``keys_dir`` (a key ring) and ``private_key_file`` (one key) is set.

    ``nats`` None means no NATS at all: JWKS over HTTP only, revocations logged, not published.
    Settings built from the environment always have NATS.
    """

    private_key_file: Path | None = None
    keys_dir: Path | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str = DEFAULT_DATABASE_URL
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    access_token_ttl_s: int = DEFAULT_ACCESS_TOKEN_TTL_S
    refresh_token_ttl_s: int = DEFAULT_REFRESH_TOKEN_TTL_S
    keys_reload_s: float = DEFAULT_KEYS_RELOAD_S
    login_max_per_account: int = DEFAULT_LOGIN_MAX_PER_ACCOUNT
    login_max_per_address: int = DEFAULT_LOGIN_MAX_PER_ADDRESS
    login_window_s: float = DEFAULT_LOGIN_WINDOW_S
    admin_api_key: str | None = field(default=None, repr=False)
    migrate_on_start: bool = True
    log_level: str = DEFAULT_LOG_LEVEL
    cors_origins: tuple[str, ...] = tuple(DEFAULT_CORS_ORIGINS.split(","))
    trusted_proxies: tuple[Network, ...] = ()
    nats: NatsSettings | None = None

    @classmethod
    def from_env(cls, env: Env) -> AuthSettings:
        """Build the settings; a missing or malformed variable raises SettingsError naming it."""
        keys_dir, key_file = env.optional("JWT_KEYS_DIR"), env.optional("JWT_PRIVATE_KEY_FILE")
        if keys_dir is None and key_file is None:
            raise SettingsError(
                "environment variable JWT_KEYS_DIR or JWT_PRIVATE_KEY_FILE is required"
            )
        settings = cls(
            # A key ring directory wins over the single key file when both are set.
            keys_dir=Path(keys_dir) if keys_dir else None,
            private_key_file=Path(key_file) if key_file and not keys_dir else None,
            host=env.str("AUTH_HOST", DEFAULT_HOST),
            port=env.int("AUTH_PORT", DEFAULT_PORT),
            database_url=database_url_from_env(env),
            issuer=env.str("JWT_ISSUER", DEFAULT_ISSUER),
            audience=env.str("JWT_AUDIENCE", DEFAULT_AUDIENCE),
            access_token_ttl_s=env.int("ACCESS_TOKEN_TTL_S", DEFAULT_ACCESS_TOKEN_TTL_S),
            refresh_token_ttl_s=env.int("REFRESH_TOKEN_TTL_S", DEFAULT_REFRESH_TOKEN_TTL_S),
            keys_reload_s=env.float("JWT_KEYS_RELOAD_S", DEFAULT_KEYS_RELOAD_S),
            login_max_per_account=env.int("LOGIN_MAX_PER_ACCOUNT", DEFAULT_LOGIN_MAX_PER_ACCOUNT),
            login_max_per_address=env.int("LOGIN_MAX_PER_ADDRESS", DEFAULT_LOGIN_MAX_PER_ADDRESS),
            login_window_s=env.float("LOGIN_WINDOW_S", DEFAULT_LOGIN_WINDOW_S),
            admin_api_key=env.optional("ADMIN_API_KEY"),
            migrate_on_start=env.bool("AUTH_MIGRATE_ON_START", True),
            log_level=env.str("LOG_LEVEL", DEFAULT_LOG_LEVEL).upper(),
            cors_origins=_origins(env.str("AUTH_CORS_ORIGINS", DEFAULT_CORS_ORIGINS)),
            trusted_proxies=_networks(env.str("TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)),
            nats=NatsSettings.from_env(env),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        """Refuse values that would only fail later, at the first request."""
        if not 0 < self.port < 65536:
            raise SettingsError(f"environment variable AUTH_PORT must be 1-65535, got {self.port}")
        positive = {
            "ACCESS_TOKEN_TTL_S": self.access_token_ttl_s,
            "REFRESH_TOKEN_TTL_S": self.refresh_token_ttl_s,
            "JWT_KEYS_RELOAD_S": self.keys_reload_s,
            "LOGIN_MAX_PER_ACCOUNT": self.login_max_per_account,
            "LOGIN_MAX_PER_ADDRESS": self.login_max_per_address,
            "LOGIN_WINDOW_S": self.login_window_s,
        }
        for name, value in positive.items():
            if value <= 0:
                raise SettingsError(f"environment variable {name} must be positive, got {value}")
        if self.admin_api_key is not None and len(self.admin_api_key) < MIN_ADMIN_API_KEY_CHARS:
            # The message never repeats the key.
            raise SettingsError(
                f"environment variable ADMIN_API_KEY must be at least {MIN_ADMIN_API_KEY_CHARS} "
                "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        self._check_origins()
        if self.log_level not in _LOG_LEVELS:
            raise SettingsError(
                f"environment variable LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, "
                f"got {self.log_level!r}"
            )

    def _check_origins(self) -> None:
        for origin in self.cors_origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise SettingsError(
                    "environment variable AUTH_CORS_ORIGINS must list origins like "
                    f"http://127.0.0.1:8002 (scheme://host[:port], comma-separated), got {origin!r}"
                )


def database_url_from_env(env: Env) -> str:
    """DATABASE_URL alone: all ``python -m services.auth migrate`` needs."""
    return env.str("DATABASE_URL", DEFAULT_DATABASE_URL)


def _networks(raw: str) -> tuple[Network, ...]:
    try:
        return parse_networks(raw)
    except ValueError as exc:
        raise SettingsError(
            "environment variable TRUSTED_PROXIES must list IP addresses or CIDR networks "
            f"(comma-separated, e.g. 10.0.0.0/8,192.0.2.1): {exc}"
        ) from None


def _origins(raw: str) -> tuple[str, ...]:
    """``"http://a:1, http://b:2/"`` -> ``("http://a:1", "http://b:2")``."""
    return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
