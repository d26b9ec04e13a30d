"""The agent's settings: named defaults, and a clear refusal naming the variable at fault."""

from __future__ import annotations

import pytest

from services.agent.settings import AgentSettings
from shared.settings import Env, SettingsError


def test_defaults_match_the_documented_ones() -> None:
    settings = AgentSettings.from_env(Env({}))

    assert settings.database_url == "sqlite+aiosqlite:///.data/agent.db"
    assert settings.agent_name == "infra_analyst"
    assert settings.max_concurrent_runs == 64
    assert settings.tool_call_timeout_s == 35.0
    assert settings.think_delay_s == 0.05
    assert settings.log_level == "INFO"


def test_every_setting_comes_from_its_variable() -> None:
    settings = AgentSettings.from_env(
        Env(
            {
                "NATS_URL": "nats://nats:4222",
                "DATABASE_URL": "sqlite+aiosqlite:///tmp/x.db",
                "AGENT_NAME": "analyst_2",
                "AGENT_MAX_CONCURRENT_RUNS": "8",
                "TOOL_CALL_TIMEOUT_S": "1.5",
                "THINK_DELAY_S": "0",
                "AGENT_SHUTDOWN_GRACE_S": "2",
                "LOG_LEVEL": "debug",
            }
        )
    )

    assert settings.nats.url == "nats://nats:4222"
    assert settings.database_url == "sqlite+aiosqlite:///tmp/x.db"
    assert (settings.agent_name, settings.max_concurrent_runs) == ("analyst_2", 8)
    assert (settings.tool_call_timeout_s, settings.think_delay_s) == (1.5, 0.0)
    assert (settings.shutdown_grace_s, settings.log_level) == (2.0, "DEBUG")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENT_MAX_CONCURRENT_RUNS", "lots"),
        ("AGENT_MAX_CONCURRENT_RUNS", "0"),
        ("TOOL_CALL_TIMEOUT_S", "0"),
        ("THINK_DELAY_S", "-1"),
        ("AGENT_NAME", "infra.analyst"),
        ("LOG_LEVEL", "chatty"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        AgentSettings.from_env(Env({variable: value}))
