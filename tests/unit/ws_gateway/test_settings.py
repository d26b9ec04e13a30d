"""The gateway's settings: named defaults, and a clear refusal naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ws_gateway.settings import GatewaySettings, LiveSubscription
from shared.settings import Env, SettingsError


def settings(**env: str) -> GatewaySettings:
    return GatewaySettings.from_env(Env({"JWT_PUBLIC_KEY_FILE": "/keys/pub.pem", **env}))


def test_defaults_match_the_documented_ones() -> None:
    s = settings()

    assert (s.host, s.port) == ("127.0.0.1", 8002)
    assert s.jwt_public_key_file == Path("/keys/pub.pem")
    assert (s.jwt_issuer, s.jwt_audience) == ("agentwire-auth", "agentwire")
    assert (s.max_frame_bytes, s.max_message_bytes) == (65536, 1048576)
    assert s.submit_timeout_s == 5
    assert (s.send_queue_max_frames, s.send_queue_max_bytes) == (1024, 4194304)
    assert (s.ws_ping_interval, s.ws_ping_timeout) == (20, 20)
    assert (s.heartbeat_interval_s, s.replay_page_events) == (15, 256)
    assert s.nats.url == "nats://127.0.0.1:4222"


def test_every_setting_comes_from_the_environment() -> None:
    s = settings(
        GATEWAY_HOST="0.0.0.0",
        GATEWAY_PORT="9000",
        SEND_QUEUE_MAX_FRAMES="7",
        SUBMIT_TIMEOUT_S="1.5",
        NATS_URL="nats://nats:4222",
        LOG_LEVEL="debug",
        HEARTBEAT_INTERVAL_S="2.5",
        REPLAY_PAGE_EVENTS="64",
    )

    assert (s.host, s.port, s.send_queue_max_frames) == ("0.0.0.0", 9000, 7)
    assert (s.submit_timeout_s, s.nats.url, s.log_level) == (1.5, "nats://nats:4222", "DEBUG")
    assert s.limits.max_queued_frames == 7
    assert (s.heartbeat_interval_s, s.replay_page_events) == (2.5, 64)


def test_no_public_key_file_is_needed_keys_come_over_nats() -> None:
    assert GatewaySettings.from_env(Env({})).jwt_public_key_file is None


def test_security_limits_have_the_documented_defaults() -> None:
    s = GatewaySettings.from_env(Env({}))

    assert s.allowed_origins == ()
    assert s.max_connections_per_user == 20
    assert (s.messages_per_second, s.message_burst, s.rate_limit_close_after) == (20, 40, 100)
    assert (s.token_expiry_grace_s, s.token_expiry_warning_s) == (30, 60)
    assert s.revocation_memory_s == 960


def test_security_limits_come_from_the_environment() -> None:
    s = settings(
        ALLOWED_ORIGINS=" https://App.example.com/ , http://localhost:3000",
        MAX_CONNECTIONS_PER_USER="3",
        MESSAGES_PER_SECOND="2.5",
        MESSAGE_BURST="5",
        RATE_LIMIT_CLOSE_AFTER="9",
        TOKEN_EXPIRY_GRACE_S="0",
        TOKEN_EXPIRY_WARNING_S="10",
        REVOCATION_MEMORY_S="60",
    )

    assert s.allowed_origins == ("https://app.example.com", "http://localhost:3000")
    assert s.max_connections_per_user == 3
    assert (s.rate_limits.messages_per_second, s.rate_limits.burst) == (2.5, 5)
    assert s.rate_limits.close_after == 9
    assert (s.token_expiry_grace_s, s.token_expiry_warning_s, s.revocation_memory_s) == (0, 10, 60)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_PORT", "70000"),
        ("GATEWAY_PORT", "http"),
        ("SEND_QUEUE_MAX_BYTES", "0"),
        ("SUBMIT_TIMEOUT_S", "-1"),
        ("MAX_CONNECTIONS_PER_USER", "0"),
        ("MESSAGES_PER_SECOND", "0"),
        ("TOKEN_EXPIRY_GRACE_S", "-1"),
        ("LOG_LEVEL", "LOUD"),
        ("MAX_MESSAGE_BYTES", "1000"),
        ("HEARTBEAT_INTERVAL_S", "-1"),
        ("REPLAY_PAGE_EVENTS", "0"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: value})


def test_zero_ping_interval_turns_keepalive_off() -> None:
    assert settings(WS_PING_INTERVAL_S="0").ws_ping_interval is None


def test_zero_heartbeat_interval_turns_app_heartbeats_off() -> None:
    assert settings(HEARTBEAT_INTERVAL_S="0").heartbeat_interval_s == 0


def test_live_subscription_is_one_for_all_users_unless_per_user_is_asked_for() -> None:
    assert settings().live_subscription is LiveSubscription.ALL
    assert settings(LIVE_SUBSCRIPTION="per_user").live_subscription is LiveSubscription.PER_USER
    with pytest.raises(SettingsError, match="LIVE_SUBSCRIPTION"):
        settings(LIVE_SUBSCRIPTION="some")
