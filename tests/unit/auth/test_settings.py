"""The auth settings: read once from the environment, refusing what would only fail later."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from services.auth.settings import AuthSettings
from shared.settings import Env, SettingsError


def settings(**env: str) -> AuthSettings:
    return AuthSettings.from_env(Env({"JWT_PRIVATE_KEY_FILE": "/keys/auth.pem", **env}))


def test_defaults() -> None:
    loaded = settings()

    assert loaded.private_key_file == Path("/keys/auth.pem") and loaded.keys_dir is None
    assert loaded.access_token_ttl_s == 900
    assert loaded.refresh_token_ttl_s == 14 * 24 * 3600
    assert (loaded.login_max_per_account, loaded.login_max_per_address) == (10, 100)
    assert loaded.login_window_s == 300
    assert loaded.admin_api_key is None
    assert loaded.migrate_on_start is True
    assert loaded.trusted_proxies == ()  # X-Forwarded-For ignored unless proxies are named
    assert loaded.nats is not None and loaded.nats.url == "nats://127.0.0.1:4222"


def test_a_key_ring_directory_wins_over_the_single_key_file() -> None:
    loaded = settings(JWT_KEYS_DIR="/keys/ring")

    assert loaded.keys_dir == Path("/keys/ring") and loaded.private_key_file is None


def test_some_signing_key_is_required() -> None:
    with pytest.raises(SettingsError, match="JWT_KEYS_DIR or JWT_PRIVATE_KEY_FILE"):
        AuthSettings.from_env(Env({}))


@pytest.mark.parametrize(
    "variable",
    [
        "ACCESS_TOKEN_TTL_S",
        "REFRESH_TOKEN_TTL_S",
        "LOGIN_MAX_PER_ACCOUNT",
        "LOGIN_MAX_PER_ADDRESS",
        "LOGIN_WINDOW_S",
        "JWT_KEYS_RELOAD_S",
    ],
)
def test_limits_and_lifetimes_must_be_positive(variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        settings(**{variable: "0"})


def test_trusted_proxies_are_addresses_and_networks() -> None:
    loaded = settings(TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1,fd00::/8")

    assert loaded.trusted_proxies == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.1/32"),
        ip_network("fd00::/8"),
    )


def test_a_trusted_proxy_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"TRUSTED_PROXIES.*'proxy\.local'"):
        settings(TRUSTED_PROXIES="10.0.0.1,proxy.local")


def test_a_short_admin_key_is_refused_without_being_repeated() -> None:
    with pytest.raises(SettingsError, match="ADMIN_API_KEY") as refused:
        settings(ADMIN_API_KEY="hunter2")

    assert "hunter2" not in str(refused.value)


def test_the_admin_key_never_shows_in_the_settings_repr() -> None:
    key = "k" * 40

    assert key not in repr(settings(ADMIN_API_KEY=key))


@pytest.mark.parametrize(("raw", "expected"), [("0", False), ("false", False), ("YES", True)])
def test_migrate_on_start_is_a_flag(raw: str, expected: bool) -> None:
    assert settings(AUTH_MIGRATE_ON_START=raw).migrate_on_start is expected


def test_migrate_on_start_refuses_a_non_flag() -> None:
    with pytest.raises(SettingsError, match="AUTH_MIGRATE_ON_START"):
        settings(AUTH_MIGRATE_ON_START="maybe")
