"""The auth service's settings, read once from the environment at start-up.

Defaults are module constants rather than dataclass class attributes: with ``slots=True`` a
class attribute is replaced by a slot descriptor, so ``cls.port`` would not be the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.settings import Env, SettingsError

__all__ = [
    "DEFAULT_ACCESS_TOKEN_TTL_S",
    "DEFAULT_AUDIENCE",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_HOST",
    "DEFAULT_ISSUER",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_PORT",
    "AuthSettings",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///.data/auth.db"
DEFAULT_ISSUER = "agentwire-auth"
DEFAULT_AUDIENCE = "agentwire"
DEFAULT_ACCESS_TOKEN_TTL_S = 900
DEFAULT_LOG_LEVEL = "INFO"
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    private_key_file: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str = DEFAULT_DATABASE_URL
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    access_token_ttl_s: int = DEFAULT_ACCESS_TOKEN_TTL_S
    log_level: str = DEFAULT_LOG_LEVEL

    @classmethod
    def from_env(cls, env: Env) -> AuthSettings:
        """Build the settings; a missing or malformed variable raises SettingsError naming it."""
        settings = cls(
            private_key_file=Path(env.str("JWT_PRIVATE_KEY_FILE")),
            host=env.str("AUTH_HOST", DEFAULT_HOST),
            port=env.int("AUTH_PORT", DEFAULT_PORT),
            database_url=env.str("DATABASE_URL", DEFAULT_DATABASE_URL),
            issuer=env.str("JWT_ISSUER", DEFAULT_ISSUER),
            audience=env.str("JWT_AUDIENCE", DEFAULT_AUDIENCE),
            access_token_ttl_s=env.int("ACCESS_TOKEN_TTL_S", DEFAULT_ACCESS_TOKEN_TTL_S),
            log_level=env.str("LOG_LEVEL", DEFAULT_LOG_LEVEL).upper(),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        """Refuse values that would only fail later, at the first request."""
        if not 0 < self.port < 65536:
            raise SettingsError(f"environment variable AUTH_PORT must be 1-65535, got {self.port}")
        if self.access_token_ttl_s <= 0:
            raise SettingsError(
                "environment variable ACCESS_TOKEN_TTL_S must be positive, "
                f"got {self.access_token_ttl_s}"
            )
        if self.log_level not in _LOG_LEVELS:
            raise SettingsError(
                f"environment variable LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, "
                f"got {self.log_level!r}"
            )
