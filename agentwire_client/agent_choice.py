"""Which of the deployment's agents the terminal chat talks to, and what it says about it.

Sans I/O: the chat asks ``list_agents`` and hands the answer here; this keeps the choice and
words it. A name is checked against the latest list before anything is sent, so a typo is
refused at the prompt instead of becoming a message (the gateway would refuse it too, as
``unknown_agent``, but only after the person typed their question).

    /agents          the list, the current one marked
    /agent           which one is in use
    /agent <name>    switch: the next messages carry ``agent``

Server text (names, descriptions) goes into ``rich.text.Text``, never parsed as markup.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from agentwire_client.protocol import AgentInfo

__all__ = ["AgentChoice"]


class AgentChoice:
    """The agents as last listed (empty: not known yet) and the one picked (None: the
    deployment's default, and messages carry no ``agent``)."""

    def __init__(self, chosen: str | None = None) -> None:
        self.agents: list[AgentInfo] = []
        self.chosen = chosen

    def learn(self, agents: Iterable[AgentInfo]) -> None:
        self.agents = list(agents)

    @property
    def names(self) -> list[str]:
        return [agent.name for agent in self.agents]

    @property
    def current(self) -> str | None:
        """The name messages go to now; None when neither picked nor known."""
        default = next((agent.name for agent in self.agents if agent.default), None)
        return self.chosen or default

    def is_known(self, name: str) -> bool:
        return name in self.names

    def greeting(self) -> Text | None:
        """What to say at the start: only when there is a choice to make."""
        if len(self.agents) < 2:
            return None
        return Text.assemble(
            *self._in_use("talking to "),
            (f", one of {len(self.agents)} agents: ", "dim"),
            ("/agents", "bold"),
            (" lists them, ", "dim"),
            ("/agent <name>", "bold"),
            (" switches", "dim"),
        )

    def status(self) -> Text:
        """``/agent`` alone: which agent is in use."""
        if self.current is None:
            return Text("talking to the deployment's default agent", "dim")
        return Text.assemble(*self._in_use("talking to "), *self._description(self.current))

    def pick(self, name: str) -> tuple[bool, Text]:
        """``/agent <name>``, checked against the list: (switched, what to say)."""
        if not self.is_known(name):
            still = self._in_use(". Nothing was sent; still talking to ")
            return False, Text.assemble(self.refusal(name), *still)
        if name == self.current:
            return True, Text.assemble(*self._in_use("already talking to "))
        self.chosen = name
        return True, Text.assemble(*self._in_use("now talking to "), *self._description(name))

    def listing(self) -> list[Text]:
        """``/agents``: one line each, the one in use marked, the default said."""
        if not self.agents:
            return [Text("  no agents are listed", "dim")]
        width = max(len(name) for name in self.names)
        lines = [self._line(agent, width) for agent in self.agents]
        if len(self.agents) > 1:
            lines.append(Text("  /agent <name> switches", "dim"))
        return lines

    def _line(self, agent: AgentInfo, width: int) -> Text:
        in_use = agent.name == self.current
        return Text.assemble(
            ("  ▸ " if in_use else "    ", "bold cyan"),
            (agent.name.ljust(width), "bold cyan" if in_use else "bold"),
            ("  ", ""),
            (_one_line(agent.description), ""),
            ("  (default)" if agent.default else "", "dim"),
        )

    def _in_use(self, lead: str) -> list[tuple[str, str]]:
        name = self.current or "the default agent"
        is_default = any(agent.default and agent.name == name for agent in self.agents)
        return [(lead, "dim"), (name, "bold cyan"), (" (the default)" if is_default else "", "dim")]

    def _description(self, name: str) -> list[tuple[str, str]]:
        described = next((a.description for a in self.agents if a.name == name), "")
        return [(f": {_one_line(described)}", "dim")] if described.strip() else []

    def refusal(self, name: str) -> Text:
        """A name none of the agents has, in plain words, with the names there are."""
        known = ", ".join(self.names)
        return Text.assemble(
            ("no agent here is named ", "yellow"),
            (name, "bold yellow"),
            (f"; the agents are {known}" if known else "", "yellow"),
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())
