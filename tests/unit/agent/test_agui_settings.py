"""AGUI_AGENTS: AG-UI servers registered by URL become agents of the deployment, listed like any
other; a malformed entry or a name already taken stops the service, naming the setting."""

from __future__ import annotations

import pytest

from services.agent.agents.agui import AguiSettings
from services.agent.agents.registry import agent_list, build_agents
from services.agent.settings import AgentSettings
from shared.settings import Env, SettingsError


def test_each_entry_is_an_agent_with_the_shared_timeouts() -> None:
    settings = AgentSettings.from_env(
        Env(
            {
                "AGUI_AGENTS": "planner=http://127.0.0.1:8000/agent, crew=https://crew.example/run",
                "AGUI_API_KEY": "k-secret",
                "AGUI_CONNECT_TIMEOUT_S": "2",
                "AGUI_READ_TIMEOUT_S": "30",
                "AGUI_MAX_RETRIES": "0",
                "AGUI_MAX_STEPS": "4",
            }
        )
    )

    planner, crew = settings.agui_agents
    assert (planner.name, planner.url) == ("planner", "http://127.0.0.1:8000/agent")
    assert (crew.name, crew.url) == ("crew", "https://crew.example/run")
    assert planner == AguiSettings(
        "planner", "http://127.0.0.1:8000/agent", "k-secret", 2.0, 30.0, 0, 4
    )
    assert "k-secret" not in repr(planner)


def test_without_the_setting_there_are_none_and_the_defaults_are_documented_ones() -> None:
    assert AgentSettings.from_env(Env({})).agui_agents == ()
    [one] = AgentSettings.from_env(Env({"AGUI_AGENTS": "a=http://h/agent"})).agui_agents
    assert (one.connect_timeout_s, one.read_timeout_s, one.max_retries, one.max_steps) == (
        10.0,
        300.0,
        2,
        10,
    )


def test_they_are_listed_with_their_endpoint_and_never_its_credentials() -> None:
    url = "http://user:pw@127.0.0.1:8000/agent?token=t"
    settings = AgentSettings.from_env(Env({"AGUI_AGENTS": f"remote={url}"}))

    agents, default = build_agents(settings)
    listed = {a.name: a for a in agent_list(agents, default).agents}

    assert default == "infra_analyst"
    assert listed["remote"].description == "An AG-UI agent at http://127.0.0.1:8000/agent"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AGUI_AGENTS": "http://127.0.0.1:8000/agent"}, "AGUI_AGENTS"),
        ({"AGUI_AGENTS": "bad name=http://h/a"}, "AGUI_AGENTS"),
        ({"AGUI_AGENTS": "a=ftp://h/a"}, "AGUI_AGENTS"),
        ({"AGUI_AGENTS": "a=http://h/a", "AGUI_READ_TIMEOUT_S": "0"}, "AGUI_READ_TIMEOUT_S"),
        ({"AGUI_AGENTS": "a=http://h/a", "AGUI_MAX_RETRIES": "-1"}, "AGUI_MAX_RETRIES"),
    ],
    ids=["no-name", "bad-name", "not-http", "zero-timeout", "negative-retries"],
)
def test_a_malformed_setting_is_refused_naming_it(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        AgentSettings.from_env(Env(environ))


def test_a_name_another_agent_has_is_refused() -> None:
    settings = AgentSettings.from_env(Env({"AGUI_AGENTS": "infra_analyst=http://h/agent"}))

    with pytest.raises(SettingsError, match="AGUI_AGENTS: an agent named 'infra_analyst'"):
        build_agents(settings)
