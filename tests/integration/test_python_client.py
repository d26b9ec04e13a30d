"""agentwire_client.Client against the whole stack: runs, resume after a drop, cancel, lists.

This module runs its own stack with slower thinking (0.4 s a step), so that a test can act in
the middle of a run: drop the socket, or press Stop. Its gateway warns of expiry 898 s ahead, so
a fresh 900 s token is "expiring" after 2 s: the renewal test needs no 15-minute wait. Besides
the built-in analyst (the default) it runs the sample ``echo`` agent, for the tests that pick one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from agentwire_client import (
    TERMINAL_TYPES,
    AgentInfo,
    AuthError,
    Client,
    ServerError,
    Session,
    Unauthorized,
    login,
    register,
)
from agentwire_client.client import connect_with_header
from devstack.stack import Stack

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
QUESTION = "Why is the api slow this week?"


@pytest.fixture(scope="module")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("client-stack")

    def sink(name: str, line: str) -> None:
        with open(Path(data_dir) / f"{name}.log", "a") as out:
            out.write(line + "\n")

    running = Stack(
        data_dir=data_dir,
        sink=sink,
        nats_url=nats_url,
        extra_env={
            "THINK_DELAY_S": "0.4",
            "TOKEN_EXPIRY_WARNING_S": "898",
            "AGENTS": "tests.integration.sample_agents:echo",
        },
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def new_token(stack: Stack) -> str:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    await register(stack.auth_url, email, PASSWORD)
    return await login(stack.auth_url, email, PASSWORD)


async def events_of_run(client: Client, run_id: str, timeout_s: float = 20) -> list[dict[str, Any]]:
    """The run's events from the client's iterator, through its terminal event."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        async for frame in client:
            if frame.get("run_id") == run_id and "seq" in frame:
                events.append(frame)
                if frame["type"] in TERMINAL_TYPES:
                    return events
    raise AssertionError(f"the client ended before run {run_id} did: {events}")


async def test_client_logs_in_and_streams_a_whole_run(stack: Stack) -> None:
    async with Client(stack.ws_url, await new_token(stack)) as client:
        accepted = await client.send(QUESTION)
        events = await events_of_run(client, accepted["run_id"])

    kinds = [e["type"] for e in events]
    assert kinds[0] == "agent_started" and kinds[-1] == "agent_completed"
    assert {"agent_thinking", "tool_executing", "tool_completed"} <= set(kinds)
    assert accepted["client_msg_id"], "the client names every message, so resending is safe"


async def test_register_reports_a_taken_email(stack: Stack) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    await register(stack.auth_url, email, PASSWORD)
    with pytest.raises(AuthError) as refused:
        await register(stack.auth_url, email, PASSWORD)
    assert refused.value.code == "email_taken"


async def test_client_ends_with_unauthorized_on_a_bad_token(stack: Stack) -> None:
    async with Client(stack.ws_url, "not-a-token") as client:
        with pytest.raises(Unauthorized):
            async with asyncio.timeout(10):
                async for _ in client:
                    pass
        assert client.state == "unauthorized"


class SlowToReconnect:
    """A connector that keeps the client away for a while after its first socket."""

    def __init__(self, away_s: float) -> None:
        self.away_s = away_s
        self.urls: list[str] = []

    async def __call__(self, url: str, token: str) -> ClientConnection:
        self.urls.append(url)
        if len(self.urls) > 1:
            await asyncio.sleep(self.away_s)
        return await connect_with_header(url, token)


async def test_client_resumes_after_a_drop_with_nothing_lost_or_doubled(stack: Stack) -> None:
    """Needs the gateway's resume (``?after_seq=N``)."""
    token = await new_token(stack)
    connector = SlowToReconnect(away_s=1.0)
    async with (
        Client(stack.ws_url, token) as watcher,  # never dropped: what the user should see
        Client(stack.ws_url, token, connector=connector) as client,
    ):
        accepted = await client.send(QUESTION)
        run_id = accepted["run_id"]
        first = await anext(aiter(client))
        while first.get("type") != "agent_started":
            first = await anext(aiter(client))
        await client.reconnect()  # away for a second while the run goes on
        resumed = [first, *await events_of_run(client, run_id)]
        expected = await events_of_run(watcher, run_id)

    # It resumed after the last event it had received when the socket dropped: at least the
    # first, and more if the next ones were already in (the run goes on while it reads).
    after_seq = int(connector.urls[1].rsplit("after_seq=", 1)[1])
    assert after_seq in [e["seq"] for e in expected] and after_seq >= first["seq"]
    assert client.connections == 2
    assert [e["seq"] for e in resumed] == [e["seq"] for e in expected]
    assert resumed[-1]["type"] == "agent_completed"


async def test_client_stops_a_run(stack: Stack) -> None:
    """Needs the agent's cancel."""
    async with Client(stack.ws_url, await new_token(stack)) as client:
        accepted = await client.send(QUESTION)
        async for frame in client:
            if frame.get("type") == "agent_thinking":
                break
        reply = await client.cancel(accepted["run_id"])
        events = await events_of_run(client, accepted["run_id"])

    assert reply["type"] == "cancel_accepted" and reply["state"] == "cancelling"
    assert events[-1]["type"] == "agent_cancelled"


async def test_client_lists_threads_and_their_runs(stack: Stack) -> None:
    """Needs the agent's list_threads / list_runs."""
    async with Client(stack.ws_url, await new_token(stack)) as client:
        accepted = await client.send(QUESTION)
        await events_of_run(client, accepted["run_id"])
        threads = await client.list_threads()
        runs = await client.list_runs(accepted["thread_id"])

    assert [t["thread_id"] for t in threads] == [accepted["thread_id"]]
    assert [(r["run_id"], r["status"], r["content"]) for r in runs] == [
        (accepted["run_id"], "completed", QUESTION)
    ]


async def test_client_renews_its_token_on_the_open_socket(stack: Stack) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    await register(stack.auth_url, email, PASSWORD)
    session = await Session.login(stack.auth_url, email, PASSWORD)
    first = session.pair
    async with Client(stack.ws_url, session) as client:
        seen: list[str] = []
        async with asyncio.timeout(15):
            async for frame in client:
                seen.append(frame["type"])
                if frame["type"] == "auth_ok":
                    break
        accepted = await client.send(QUESTION)  # the renewed socket still works
        events = await events_of_run(client, accepted["run_id"])

    assert "token_expiring" in seen
    assert session.refreshes >= 1 and session.pair.refresh_token != first.refresh_token
    assert client.connections == 1, "renewed in place, not by reconnecting"
    assert events[-1]["type"] == "agent_completed"


async def test_client_lists_the_agents_and_sends_to_the_one_it_names(stack: Stack) -> None:
    async with Client(stack.ws_url, await new_token(stack)) as client:
        agents = await client.list_agents()
        accepted = await client.send("hello there", agent="echo")
        events = await events_of_run(client, accepted["run_id"])

    assert agents == [
        AgentInfo("infra_analyst", agents[0].description, default=True),
        AgentInfo("echo", "Repeats your message."),
    ]
    assert agents[0].description, "every agent says what it does"
    assert events[0]["data"]["agent_id"].startswith("echo_")
    assert events[-1]["type"] == "agent_completed"
    assert events[-1]["data"]["result"] == "echo: hello there"


async def test_client_message_to_an_unknown_agent_is_refused_and_nothing_runs(
    stack: Stack,
) -> None:
    async with Client(stack.ws_url, await new_token(stack)) as client:
        with pytest.raises(ServerError) as refused:
            await client.send("hello", agent="nobody")
        threads = await client.list_threads()  # the client carries on
        accepted = await client.send("hello")  # and the default agent still answers
        events = await events_of_run(client, accepted["run_id"])

    assert refused.value.code == "unknown_agent"
    assert "nobody" in refused.value.message and "echo" in refused.value.message
    assert threads == [], "nothing was stored"
    assert events[0]["data"]["agent_id"].startswith("infra_analyst_")
