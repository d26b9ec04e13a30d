"""The agent's settings: named defaults, and a clear refusal naming the variable at fault."""

from __future__ import annotations

import pytest

from services.agent.messages import Typing
from services.agent.service import DoubleTextPolicy
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
    assert (settings.run_lease_s, settings.supervise_every_s) == (3.0, 1.0)
    assert (settings.tool_heartbeat_timeout_s, settings.run_timeout_s) == (3.0, 300.0)
    assert settings.double_text_policy is DoubleTextPolicy.QUEUE
    assert (settings.stream_tokens_per_s, settings.stream_flush_ms) == (40.0, 40.0)
    assert settings.typing == Typing(tokens_per_s=40.0, flush_s=0.04)


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
                "TOOL_HEARTBEAT_TIMEOUT_S": "2",
                "RUN_LEASE_S": "1.5",
                "RUN_TIMEOUT_S": "60",
                "DOUBLE_TEXT_POLICY": "Reject",
                "STREAM_TOKENS_PER_S": "0",
                "STREAM_FLUSH_MS": "25",
            }
        )
    )

    assert settings.nats.url == "nats://nats:4222"
    assert settings.database_url == "sqlite+aiosqlite:///tmp/x.db"
    assert (settings.agent_name, settings.max_concurrent_runs) == ("analyst_2", 8)
    assert (settings.tool_call_timeout_s, settings.think_delay_s) == (1.5, 0.0)
    assert (settings.shutdown_grace_s, settings.log_level) == (2.0, "DEBUG")
    assert (settings.tool_heartbeat_timeout_s, settings.run_lease_s) == (2.0, 1.5)
    assert settings.run_timeout_s == 60.0
    assert settings.double_text_policy is DoubleTextPolicy.REJECT
    assert settings.typing == Typing(tokens_per_s=0.0, flush_s=0.025)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENT_MAX_CONCURRENT_RUNS", "lots"),
        ("AGENT_MAX_CONCURRENT_RUNS", "0"),
        ("TOOL_CALL_TIMEOUT_S", "0"),
        ("THINK_DELAY_S", "-1"),
        ("AGENT_NAME", "infra.analyst"),
        ("LOG_LEVEL", "chatty"),
        ("TOOL_HEARTBEAT_TIMEOUT_S", "0"),
        ("RUN_LEASE_S", "-3"),
        ("RUN_TIMEOUT_S", "soon"),
        ("DOUBLE_TEXT_POLICY", "interrupt"),
        ("STREAM_TOKENS_PER_S", "-1"),
        ("STREAM_TOKENS_PER_S", "inf"),
        ("STREAM_FLUSH_MS", "0"),
        ("STREAM_FLUSH_MS", "nan"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        AgentSettings.from_env(Env({variable: value}))
