"""The gateway's settings, read once from the environment at start-up.

Defaults are module constants rather than dataclass class attributes: with ``slots=True`` a
class attribute is replaced by a slot descriptor, so ``cls.port`` would not be the default.

Two size limits, on purpose: ``MAX_FRAME_BYTES`` is what the gateway will *interpret* (a bigger
frame gets an ``error`` frame and the socket stays open), ``MAX_MESSAGE_BYTES`` is what the
transport will even *read* (uvicorn's ``ws_max_size``: bigger closes the socket with 1009).

The gateway gets its verification keys from the auth service over NATS; ``JWT_PUBLIC_KEY_FILE``
is an optional seed for the time before the auth service first answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from services.ws_gateway.guard import (
    DEFAULT_MESSAGE_BURST,
    DEFAULT_MESSAGES_PER_SECOND,
    DEFAULT_RATE_LIMIT_CLOSE_AFTER,
    RateLimits,
)
from services.ws_gateway.revocations import DEFAULT_REMEMBER_S
from services.ws_gateway.session import Limits
from shared.settings import Env, NatsSettings, SettingsError

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_CLOSE_TIMEOUT_S",
    "DEFAULT_HEARTBEAT_INTERVAL_S",
    "DEFAULT_HOST",
    "DEFAULT_ISSUER",
    "DEFAULT_LOG_LEVEL",
    "DEFAULT_MAX_CONNECTIONS_PER_USER",
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_REPLAY_PAGE_EVENTS",
    "DEFAULT_SEND_QUEUE_MAX_BYTES",
    "DEFAULT_SEND_QUEUE_MAX_FRAMES",
    "DEFAULT_SUBMIT_TIMEOUT_S",
    "DEFAULT_TOKEN_EXPIRY_GRACE_S",
    "DEFAULT_TOKEN_EXPIRY_WARNING_S",
    "DEFAULT_WS_PING_INTERVAL_S",
    "DEFAULT_WS_PING_TIMEOUT_S",
    "GatewaySettings",
    "LiveSubscription",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8002
DEFAULT_ISSUER = "agentwire-auth"
DEFAULT_AUDIENCE = "agentwire"
DEFAULT_MAX_FRAME_BYTES = 65_536
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
# How long the gateway waits for an answer over NATS: a run submission, a cancel or listing, and
# one read of the event log.
DEFAULT_SUBMIT_TIMEOUT_S = 5.0
DEFAULT_SEND_QUEUE_MAX_FRAMES = 1024
DEFAULT_SEND_QUEUE_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_WS_PING_INTERVAL_S = 20.0
DEFAULT_WS_PING_TIMEOUT_S = 20.0
# How long a closing socket may take to flush its close frame before the gateway lets go of it.
DEFAULT_CLOSE_TIMEOUT_S = 10.0
# A socket that was sent nothing for this long gets a heartbeat frame (0 turns them off).
DEFAULT_HEARTBEAT_INTERVAL_S = 15.0
# The most stored events one replay read asks for (the send queue's room caps it further).
DEFAULT_REPLAY_PAGE_EVENTS = 256
# A snapshot on join reads this far back: longer than any run may last (RUN_TIMEOUT_S, 300 s by
# default, and its stop grace), so every run under way began within it.
DEFAULT_SNAPSHOT_WINDOW_S = 400.0
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_MAX_CONNECTIONS_PER_USER = 20
# A socket whose token expired unrenewed is closed this long after exp (clocks drift, and a
# client refreshing right at exp should not lose its socket); warned this long before exp.
DEFAULT_TOKEN_EXPIRY_GRACE_S = 30.0
DEFAULT_TOKEN_EXPIRY_WARNING_S = 60.0
DEFAULT_JWKS_MIN_REFRESH_INTERVAL_S = 5.0
DEFAULT_JWKS_MAX_AGE_S = 300.0
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LiveSubscription(Enum):
    """How a gateway hears the stream's live events (``LIVE_SUBSCRIPTION``).

    ``all``: one subscription to every user's live subject; events of users with no socket here
    are dropped on arrival. The cheapest (./dev bench, 1,000 users: 11-12.5 µs of gateway CPU
    per event and 12.9 KB per idle socket, against 13.1 µs and 16.7 KB), and the right choice
    for one or a few gateways per NATS, or when a load balancer routes each user to one gateway.
    ``per_user``: one subscription per connected user, so a gateway receives only its own users'
    events: for a large fleet that spreads every user over many gateways.
    """

    ALL = "all"
    PER_USER = "per_user"


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    jwt_public_key_file: Path | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    jwt_issuer: str = DEFAULT_ISSUER
    jwt_audience: str = DEFAULT_AUDIENCE
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    submit_timeout_s: float = DEFAULT_SUBMIT_TIMEOUT_S
    send_queue_max_frames: int = DEFAULT_SEND_QUEUE_MAX_FRAMES
    send_queue_max_bytes: int = DEFAULT_SEND_QUEUE_MAX_BYTES
    ws_ping_interval_s: float = DEFAULT_WS_PING_INTERVAL_S
    ws_ping_timeout_s: float = DEFAULT_WS_PING_TIMEOUT_S
    close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    replay_page_events: int = DEFAULT_REPLAY_PAGE_EVENTS
    snapshot_window_s: float = DEFAULT_SNAPSHOT_WINDOW_S
    log_level: str = DEFAULT_LOG_LEVEL
    # Empty: the gateway's own origin on loopback only (see app.origin_allowed); "*": any.
    allowed_origins: tuple[str, ...] = ()
    max_connections_per_user: int = DEFAULT_MAX_CONNECTIONS_PER_USER
    messages_per_second: float = DEFAULT_MESSAGES_PER_SECOND
    message_burst: int = DEFAULT_MESSAGE_BURST
    rate_limit_close_after: int = DEFAULT_RATE_LIMIT_CLOSE_AFTER
    token_expiry_grace_s: float = DEFAULT_TOKEN_EXPIRY_GRACE_S
    token_expiry_warning_s: float = DEFAULT_TOKEN_EXPIRY_WARNING_S
    revocation_memory_s: float = DEFAULT_REMEMBER_S
    jwks_min_refresh_interval_s: float = DEFAULT_JWKS_MIN_REFRESH_INTERVAL_S
    jwks_max_age_s: float = DEFAULT_JWKS_MAX_AGE_S
    live_subscription: LiveSubscription = LiveSubscription.ALL
    nats: NatsSettings = field(default_factory=NatsSettings)

    @classmethod
    def from_env(cls, env: Env) -> GatewaySettings:
        """Build the settings; a missing or malformed variable raises SettingsError naming it."""
        public_key_file = env.optional("JWT_PUBLIC_KEY_FILE")
        settings = cls(
            jwt_public_key_file=Path(public_key_file) if public_key_file else None,
            host=env.str("GATEWAY_HOST", DEFAULT_HOST),
            port=env.int("GATEWAY_PORT", DEFAULT_PORT),
            jwt_issuer=env.str("JWT_ISSUER", DEFAULT_ISSUER),
            jwt_audience=env.str("JWT_AUDIENCE", DEFAULT_AUDIENCE),
            max_frame_bytes=env.int("MAX_FRAME_BYTES", DEFAULT_MAX_FRAME_BYTES),
            max_message_bytes=env.int("MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES),
            submit_timeout_s=env.float("SUBMIT_TIMEOUT_S", DEFAULT_SUBMIT_TIMEOUT_S),
            send_queue_max_frames=env.int("SEND_QUEUE_MAX_FRAMES", DEFAULT_SEND_QUEUE_MAX_FRAMES),
            send_queue_max_bytes=env.int("SEND_QUEUE_MAX_BYTES", DEFAULT_SEND_QUEUE_MAX_BYTES),
            ws_ping_interval_s=env.float("WS_PING_INTERVAL_S", DEFAULT_WS_PING_INTERVAL_S),
            ws_ping_timeout_s=env.float("WS_PING_TIMEOUT_S", DEFAULT_WS_PING_TIMEOUT_S),
            close_timeout_s=env.float("CLOSE_TIMEOUT_S", DEFAULT_CLOSE_TIMEOUT_S),
            heartbeat_interval_s=env.float("HEARTBEAT_INTERVAL_S", DEFAULT_HEARTBEAT_INTERVAL_S),
            replay_page_events=env.int("REPLAY_PAGE_EVENTS", DEFAULT_REPLAY_PAGE_EVENTS),
            snapshot_window_s=env.float("SNAPSHOT_WINDOW_S", DEFAULT_SNAPSHOT_WINDOW_S),
            live_subscription=_live_subscription(env.str("LIVE_SUBSCRIPTION", "all")),
            log_level=env.str("LOG_LEVEL", DEFAULT_LOG_LEVEL).upper(),
            allowed_origins=_origins(env.optional("ALLOWED_ORIGINS") or ""),
            max_connections_per_user=env.int(
                "MAX_CONNECTIONS_PER_USER", DEFAULT_MAX_CONNECTIONS_PER_USER
            ),
            messages_per_second=env.float("MESSAGES_PER_SECOND", DEFAULT_MESSAGES_PER_SECOND),
            message_burst=env.int("MESSAGE_BURST", DEFAULT_MESSAGE_BURST),
            rate_limit_close_after=env.int(
                "RATE_LIMIT_CLOSE_AFTER", DEFAULT_RATE_LIMIT_CLOSE_AFTER
            ),
            token_expiry_grace_s=env.float("TOKEN_EXPIRY_GRACE_S", DEFAULT_TOKEN_EXPIRY_GRACE_S),
            token_expiry_warning_s=env.float(
                "TOKEN_EXPIRY_WARNING_S", DEFAULT_TOKEN_EXPIRY_WARNING_S
            ),
            revocation_memory_s=env.float("REVOCATION_MEMORY_S", DEFAULT_REMEMBER_S),
            nats=NatsSettings.from_env(env),
        )
        settings._check()
        return settings

    @property
    def limits(self) -> Limits:
        """What each connection's session enforces."""
        return Limits(
            max_frame_bytes=self.max_frame_bytes,
            max_queued_frames=self.send_queue_max_frames,
            max_queued_bytes=self.send_queue_max_bytes,
        )

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(
            messages_per_second=self.messages_per_second,
            burst=self.message_burst,
            close_after=self.rate_limit_close_after,
        )

    def _check(self) -> None:
        """Refuse values that would only fail later, at the first connection."""
        if not 0 <= self.port < 65536:  # 0 = any free port (tests)
            _refuse("GATEWAY_PORT", "must be 0-65535", self.port)
        for name, value in (
            ("MAX_FRAME_BYTES", self.max_frame_bytes),
            ("MAX_MESSAGE_BYTES", self.max_message_bytes),
            ("SUBMIT_TIMEOUT_S", self.submit_timeout_s),
            ("SEND_QUEUE_MAX_FRAMES", self.send_queue_max_frames),
            ("SEND_QUEUE_MAX_BYTES", self.send_queue_max_bytes),
            ("CLOSE_TIMEOUT_S", self.close_timeout_s),
            ("REPLAY_PAGE_EVENTS", self.replay_page_events),
            ("SNAPSHOT_WINDOW_S", self.snapshot_window_s),
            ("MAX_CONNECTIONS_PER_USER", self.max_connections_per_user),
            ("MESSAGES_PER_SECOND", self.messages_per_second),
            ("MESSAGE_BURST", self.message_burst),
            ("RATE_LIMIT_CLOSE_AFTER", self.rate_limit_close_after),
            ("REVOCATION_MEMORY_S", self.revocation_memory_s),
        ):
            if value <= 0:
                _refuse(name, "must be positive", value)
        for name, value in (
            ("TOKEN_EXPIRY_GRACE_S", self.token_expiry_grace_s),
            ("TOKEN_EXPIRY_WARNING_S", self.token_expiry_warning_s),
        ):
            if value < 0:
                _refuse(name, "must be 0 or positive", value)
        if self.heartbeat_interval_s < 0:
            _refuse(
                "HEARTBEAT_INTERVAL_S", "must be 0 (off) or positive", self.heartbeat_interval_s
            )
        if self.max_message_bytes < self.max_frame_bytes:
            # Otherwise frame_too_large could never be answered: the transport closes first.
            _refuse("MAX_MESSAGE_BYTES", "must be at least MAX_FRAME_BYTES", self.max_message_bytes)
        if self.log_level not in _LOG_LEVELS:
            _refuse("LOG_LEVEL", f"must be one of {', '.join(_LOG_LEVELS)}", self.log_level)

    @property
    def ws_ping_interval(self) -> float | None:
        """The WebSocket ping interval; 0 in the environment turns keepalive pings off."""
        return self.ws_ping_interval_s if self.ws_ping_interval_s > 0 else None

    @property
    def ws_ping_timeout(self) -> float | None:
        return self.ws_ping_timeout_s if self.ws_ping_timeout_s > 0 else None


def _live_subscription(value: str) -> LiveSubscription:
    try:
        return LiveSubscription(value.strip().lower())
    except ValueError:
        choices = " or ".join(mode.value for mode in LiveSubscription)
        _refuse("LIVE_SUBSCRIPTION", f"must be {choices}", value)
        raise


def _origins(value: str) -> tuple[str, ...]:
    """``ALLOWED_ORIGINS``: comma-separated origins, compared as browsers send them."""
    return tuple(
        origin.strip().rstrip("/").lower() for origin in value.split(",") if origin.strip()
    )


def _refuse(name: str, rule: str, value: object) -> None:
    raise SettingsError(f"environment variable {name} {rule}, got {value!r}")
