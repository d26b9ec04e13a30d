"""Which agents this deployment runs, by name, and which one a message without a name gets.

The built-in analyst is always there (named ``AGENT_NAME``); ``llm`` joins it when an LLM
endpoint is set (and becomes the default); ``AGENTS`` adds any agent written with the SDK, as
``package.module:attribute`` entries; ``AGUI_AGENTS`` adds AG-UI servers, as ``name=url``
entries. A name used twice, or a ``DEFAULT_AGENT`` none of them has, stops the service at start
with the setting named.
"""

from __future__ import annotations

from agentwire_sdk import Agent, load
from services.agent.agents.agui import agui_agent
from services.agent.agents.analyst import analyst
from services.agent.agents.llm import llm_agent
from services.agent.planner import InfraAnalystPlanner, Planner
from services.agent.settings import AgentSettings
from shared.settings import SettingsError
from shared.wire.runs import AgentInfo, AgentList

__all__ = ["agent_list", "build_agents"]

LLM_AGENT = "llm"


def build_agents(
    settings: AgentSettings, planner: Planner | None = None
) -> tuple[dict[str, Agent], str]:
    """The agents by name, and the default's name."""
    built_in = analyst(
        planner or InfraAnalystPlanner(),
        name=settings.agent_name,
        typing=settings.typing,
        think_delay_s=settings.think_delay_s,
    )
    agents = {built_in.name: built_in}
    if settings.llm is not None:
        _add(agents, llm_agent(settings.llm, name=LLM_AGENT), "LLM_BASE_URL")
    for spec in settings.agents:
        try:
            found = load(spec)
        except (ImportError, ValueError) as exc:
            raise SettingsError(f"environment variable AGENTS: {exc}") from None
        _add(agents, found, "AGENTS")
    for server in settings.agui_agents:
        _add(agents, agui_agent(server), "AGUI_AGENTS")
    default = settings.default_agent or (
        LLM_AGENT if settings.llm is not None else settings.agent_name
    )
    if default not in agents:
        known = ", ".join(sorted(agents))
        raise SettingsError(
            f"environment variable DEFAULT_AGENT must name one of the agents ({known}), "
            f"got {default!r}"
        )
    return agents, default


def agent_list(agents: dict[str, Agent], default: str) -> AgentList:
    """What ``list_agents`` answers: the default first, then by name."""
    ordered = sorted(agents.values(), key=lambda agent: (agent.name != default, agent.name))
    return AgentList(
        agents=[
            AgentInfo(name=agent.name, description=agent.description, default=agent.name == default)
            for agent in ordered
        ]
    )


def _add(agents: dict[str, Agent], agent: Agent, setting: str) -> None:
    if agent.name in agents:
        raise SettingsError(
            f"environment variable {setting}: an agent named {agent.name!r} is already there"
        )
    agents[agent.name] = agent
