"""The tool runner's settings: named defaults, and a refusal naming any bad variable."""

from __future__ import annotations

import pytest

from services.tools.settings import ToolsSettings
from shared.settings import Env, SettingsError


def settings(**env: str) -> ToolsSettings:
    return ToolsSettings.from_env(Env({"NATS_URL": "nats://nats.example:4222", **env}))


def test_defaults() -> None:
    s = settings()
    assert (s.tool_timeout_s, s.tool_concurrency, s.log_level) == (30.0, 16, "INFO")
    assert s.nats.url == "nats://nats.example:4222"
    assert s.progress_flush_ms == 100.0


def test_values_are_read_from_the_environment() -> None:
    s = settings(
        TOOL_TIMEOUT_S="2.5", TOOL_CONCURRENCY="4", LOG_LEVEL="debug", PROGRESS_FLUSH_MS="250"
    )
    assert (s.tool_timeout_s, s.tool_concurrency, s.log_level) == (2.5, 4, "DEBUG")
    assert s.progress_flush_ms == 250.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOOL_TIMEOUT_S", "soon"),
        ("TOOL_TIMEOUT_S", "0"),
        ("TOOL_TIMEOUT_S", "-1"),
        ("TOOL_TIMEOUT_S", "nan"),
        ("TOOL_CONCURRENCY", "many"),
        ("TOOL_CONCURRENCY", "0"),
        ("LOG_LEVEL", "loud"),
        ("PROGRESS_FLUSH_MS", "0"),
        ("PROGRESS_FLUSH_MS", "soon"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        settings().tool_timeout_s = 1  # type: ignore[misc]


def test_per_tool_limits_heartbeat_and_progress_folder_are_read() -> None:
    s = settings(
        TOOL_TIMEOUT_OVERRIDES="slow_task=600, analyze_performance=2.5",
        TOOL_CONCURRENCY_OVERRIDES="slow_task=2",
        TOOL_HEARTBEAT_INTERVAL_S="0.5",
        SLOW_TASK_DIR="/tmp/progress",
    )
    assert s.timeout_overrides == {"slow_task": 600.0, "analyze_performance": 2.5}
    assert s.concurrency_overrides == {"slow_task": 2}
    assert (s.heartbeat_interval_s, str(s.slow_task_dir)) == (0.5, "/tmp/progress")


def test_new_settings_default_to_no_overrides_and_one_second_heartbeats() -> None:
    s = settings()
    assert (s.timeout_overrides, s.concurrency_overrides) == ({}, {})
    assert (s.heartbeat_interval_s, s.slow_task_dir) == (1.0, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOOL_TIMEOUT_OVERRIDES", "slow_task"),
        ("TOOL_TIMEOUT_OVERRIDES", "slow_task=soon"),
        ("TOOL_TIMEOUT_OVERRIDES", "slow_task=0"),
        ("TOOL_TIMEOUT_OVERRIDES", "=5"),
        ("TOOL_CONCURRENCY_OVERRIDES", "slow_task=1.5"),
        ("TOOL_CONCURRENCY_OVERRIDES", "slow_task=0"),
        ("TOOL_HEARTBEAT_INTERVAL_S", "0"),
    ],
)
def test_a_malformed_override_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: value})
