"""Several agents in one deployment, without a server: the client's ``list_agents`` and
``send(agent=)`` on a fake socket, and what the terminal chat says and sends for /agents and
/agent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from agentwire_client import AgentInfo, ServerError
from agentwire_client.agent_choice import AgentChoice
from agentwire_client.cli import COMMANDS, Chat, parse_args
from agentwire_client.protocol import PendingRequest, Requests
from shared.wire import runs
from tests.unit.client.test_render import render
from tests.unit.client.test_renewal import AuthStub, Connector, client_for, until

ANALYST = AgentInfo("infra_analyst", "Answers questions about your infrastructure.", default=True)
ECHO = AgentInfo("echo", "Repeats your message.")
NO_SUCH = "there is no agent named 'nobody' here; the agents are: echo, infra_analyst"


def plain(text: Text | None) -> str:
    assert text is not None
    console = Console(record=True, width=200, color_system=None)
    console.print(text)
    return console.export_text().rstrip("\n")


# The client


async def test_list_agents_asks_once_and_returns_them_typed_the_default_first() -> None:
    connector = Connector()
    async with client_for(AuthStub().session(), connector) as client:
        socket = connector.sockets[0]
        listing = asyncio.create_task(client.list_agents())
        await until(lambda: bool(socket.sent))
        socket.deliver({"type": "agents", "agents": [
            {"name": "infra_analyst", "description": ANALYST.description, "default": True},
            {"name": "echo", "description": "Repeats your message.", "default": False,
             "added_later": "ignored"},
        ]})  # fmt: skip
        agents = await listing

    assert socket.sent == [{"type": "list_agents"}]
    assert agents == [ANALYST, ECHO]


async def test_a_message_names_its_agent_only_when_given_one() -> None:
    connector = Connector()
    async with client_for(AuthStub().session(), connector) as client:
        socket = connector.sockets[0]
        named = asyncio.create_task(client.send("hi", client_msg_id="m1", agent="echo"))
        default = asyncio.create_task(client.send("hi", client_msg_id="m2"))
        await until(lambda: len(socket.sent) == 2)
        for msg_id in ("m1", "m2"):
            socket.deliver({"type": "run_accepted", "run_id": msg_id, "thread_id": "t",
                            "client_msg_id": msg_id})  # fmt: skip
        await named, await default

    assert socket.sent[0]["agent"] == "echo"
    assert "agent" not in socket.sent[1]


async def test_unknown_agent_refuses_the_message_not_a_list_asked_for_before_it() -> None:
    connector = Connector()
    async with client_for(AuthStub().session(), connector) as client:
        socket = connector.sockets[0]
        listing = asyncio.create_task(client.list_agents())
        message = asyncio.create_task(client.send("hi", agent="nobody"))
        await until(lambda: len(socket.sent) == 2)
        socket.deliver({"type": "error", "data": {"code": "unknown_agent", "message": NO_SUCH}})
        with pytest.raises(ServerError) as refused:
            await message
        assert not listing.done(), "the list still waits for its own answer"
        socket.deliver({"type": "agents", "agents": [{"name": "echo", "description": ""}]})
        assert await listing == [AgentInfo("echo")]

    assert (refused.value.code, refused.value.message) == ("unknown_agent", NO_SUCH)


@pytest.mark.parametrize("code", ["no_agent_available", "unknown_type"])
def test_a_list_that_cannot_be_answered_fails_the_list_not_a_message_sent_before_it(
    code: str,
) -> None:
    """No agent answered in time; or a gateway older than list_agents does not know it."""
    requests = Requests()
    message = PendingRequest({"type": "message"}, "run_accepted", "m1")
    listing = PendingRequest({"type": "list_agents"}, "agents", None)
    requests.add(message)
    requests.add(listing)
    assert requests.match({"type": "error", "data": {"code": code}}) is listing
    assert requests.pending == [message]


def test_the_clients_agent_fields_are_the_servers() -> None:
    """The client keeps its own copy of an ``agents`` entry; it must not drift from the wire."""
    assert [f.name for f in AgentInfo.__dataclass_fields__.values()] == list(
        runs.AgentInfo.__struct_fields__
    )


# What the chat says (AgentChoice)


def test_with_one_agent_there_is_nothing_to_say_at_the_start() -> None:
    choice = AgentChoice()
    assert choice.greeting() is None, "not known yet"
    choice.learn([ANALYST])
    assert choice.greeting() is None


def test_with_two_agents_the_start_says_which_is_in_use_and_how_to_switch() -> None:
    choice = AgentChoice()
    choice.learn([ANALYST, ECHO])
    assert plain(choice.greeting()) == (
        "talking to infra_analyst (the default), one of 2 agents: "
        "/agents lists them, /agent <name> switches"
    )
    chosen = AgentChoice("echo")
    chosen.learn([ANALYST, ECHO])
    assert plain(chosen.greeting()).startswith("talking to echo, one of 2 agents")


def test_switching_to_a_listed_agent_makes_it_current() -> None:
    choice = AgentChoice()
    choice.learn([ANALYST, ECHO])
    switched, said = choice.pick("echo")
    assert switched and choice.chosen == "echo" == choice.current
    assert plain(said) == "now talking to echo: Repeats your message."
    assert plain(choice.status()) == "talking to echo: Repeats your message."
    assert plain(choice.pick("echo")[1]) == "already talking to echo"


def test_a_name_no_agent_has_is_refused_in_words_and_changes_nothing() -> None:
    choice = AgentChoice()
    choice.learn([ANALYST, ECHO])
    switched, said = choice.pick("nobody")
    assert not switched and choice.chosen is None
    assert plain(said) == (
        "no agent here is named nobody; the agents are infra_analyst, echo. "
        "Nothing was sent; still talking to infra_analyst (the default)"
    )


def test_the_list_marks_the_agent_in_use_and_the_default() -> None:
    choice = AgentChoice("echo")
    choice.learn([ANALYST, AgentInfo("echo", "Repeats\n  your [bold]message[/bold].")])
    lines = [plain(line) for line in choice.listing()]
    assert lines == [
        "    infra_analyst  Answers questions about your infrastructure.  (default)",
        "  ▸ echo           Repeats your [bold]message[/bold].",  # one line, markup as typed
        "  /agent <name> switches",
    ]


def test_the_agent_in_use_before_any_list_came_is_the_default() -> None:
    assert plain(AgentChoice().status()) == "talking to the deployment's default agent"


# The chat


class AgentsClient:
    """What the chat uses of a Client for agents; ``agents`` None: listing fails."""

    def __init__(self, agents: Sequence[AgentInfo] | None = (ANALYST, ECHO)) -> None:
        self.agents = agents
        self.sent: list[tuple[str, str | None]] = []
        self.frames: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def list_agents(self) -> list[AgentInfo]:
        """Answered as the real client does: the reply (or error) frame is on the stream too."""
        if self.agents is None:
            data = {"code": "no_agent_available", "message": "no agent is available"}
            self.frames.put_nowait({"type": "error", "data": data})
            raise ServerError(data["code"], data["message"])
        self.frames.put_nowait({"type": "agents", "agents": [vars(a) for a in self.agents]})
        return list(self.agents)

    async def send(self, content: str, *, thread_id: str | None = None,
                   agent: str | None = None) -> dict[str, Any]:  # fmt: skip
        self.sent.append((content, agent))
        run = {"run_id": f"r{len(self.sent)}", "thread_id": "t1"}
        self.frames.put_nowait(
            {
                "seq": len(self.sent),
                "type": "agent_completed",
                **run,
                "data": {"agent_id": agent or "infra_analyst", "result": "ok"},
            }
        )
        return {"type": "run_accepted", **run}

    def __aiter__(self) -> AgentsClient:
        return self

    async def __anext__(self) -> dict[str, Any]:
        frame = await self.frames.get()
        if frame is None:
            raise StopAsyncIteration
        return frame


async def chat_with(client: AgentsClient, *typed: str, argv: tuple[str, ...] = ()) -> Chat:
    chat = Chat(client, parse_args(list(argv), {}))  # type: ignore[arg-type]
    pump = asyncio.create_task(chat.pump())
    for line in typed:
        await asyncio.wait_for(chat.command(line), 5)
    client.frames.put_nowait(None)
    await asyncio.wait_for(pump, 5)
    return chat


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


async def test_after_agent_echo_messages_carry_it(capsys: pytest.CaptureFixture[str]) -> None:
    client = AgentsClient()
    await chat_with(client, "before", "/agent echo", "after")
    assert client.sent == [("before", None), ("after", "echo")]
    assert "now talking to echo: Repeats your message." in capsys.readouterr().err


async def test_an_unknown_agent_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = AgentsClient()
    chat = await chat_with(client, "/agent nobody", "hello")
    assert client.sent == [("hello", None)], "only the message; it goes to the default"
    assert chat.agents.chosen is None
    assert "no agent here is named nobody; the agents are infra_analyst, echo" in (
        capsys.readouterr().err
    )


async def test_a_name_that_cannot_be_checked_is_not_taken(
    capsys: pytest.CaptureFixture[str],
) -> None:
    chat = await chat_with(AgentsClient(agents=None), "/agent echo")
    assert chat.agents.chosen is None
    err = capsys.readouterr().err
    assert "cannot check that name just now; talking to the deployment's default agent" in err


async def test_agents_lists_them_and_agent_alone_says_which_is_current(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await chat_with(AgentsClient(), "/agents", "/agent")
    printed = capsys.readouterr()
    assert "  ▸ infra_analyst  Answers questions about your infrastructure.  (default)" in (
        printed.out
    )
    assert "    echo           Repeats your message." in printed.out
    assert "talking to infra_analyst (the default): Answers questions" in printed.err


async def test_the_start_names_the_agent_only_when_there_is_a_choice(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for agents, said in (([ANALYST, ECHO], True), ([ANALYST], False), (None, False)):
        chat = Chat(AgentsClient(agents), parse_args([], {}))  # type: ignore[arg-type]
        assert await chat.greet()
        assert (
            "talking to infra_analyst (the default), one of 2" in capsys.readouterr().err
        ) is said


async def test_the_start_refuses_an_agent_option_no_agent_has(
    capsys: pytest.CaptureFixture[str],
) -> None:
    chat = Chat(AgentsClient(), parse_args(["--agent", "nobody"], {}))  # type: ignore[arg-type]
    assert not await chat.greet()
    assert "cannot start: no agent here is named nobody; the agents are" in capsys.readouterr().err

    chat = Chat(AgentsClient(), parse_args(["--agent", "echo"], {}))  # type: ignore[arg-type]
    assert await chat.greet() and chat.agents.chosen == "echo"


def test_help_names_the_agent_commands() -> None:
    assert {"/agents", "/agent"} <= {command for command, _ in COMMANDS}


def test_a_message_refused_as_unknown_agent_reads_as_not_sent_with_what_to_do() -> None:
    text = render({"type": "error", "data": {"code": "unknown_agent", "message": NO_SUCH}})
    assert f"✗ not sent: {NO_SUCH}  (unknown_agent)" in text
    assert "/agents lists the agents; /agent <name> picks one" in text


async def test_with_no_agent_up_the_chat_starts_silently_but_a_later_list_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = AgentsClient(agents=None)
    chat = Chat(client, parse_args([], {}))  # type: ignore[arg-type]
    pump = asyncio.create_task(chat.pump())
    assert await chat.greet()
    await asyncio.sleep(0.01)  # the pump has read the start's error frame
    start = capsys.readouterr()
    await chat.command("/agents")  # asked for: its failure is shown
    client.frames.put_nowait(None)
    await asyncio.wait_for(pump, 5)

    assert start.out == start.err == ""
    assert capsys.readouterr().out.count("no_agent_available") == 1
