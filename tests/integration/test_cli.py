"""The terminal chat as a real process against the whole stack.

The stack runs two agents, the built-in analyst (the default) and the sample ``echo``, as a
deployment that offers a choice: the chat says so at the start, ``/agents`` lists them and
``/agent echo`` sends the next messages there.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentwire_client import TERMINAL_TYPES, Client, login, register
from devstack.stack import Stack
from tests.integration.conftest import LogSink

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
QUESTION = "Why is the api slow this week?"
FIVE = {"agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("cli-stack")
    extra = {
        "THINK_DELAY_S": "0",
        "STREAM_TOKENS_PER_S": "0",  # streamed text typed at once: these tests are about runs
        "LOG_LEVEL": "INFO",
        "AGENTS": "tests.integration.sample_agents:echo",
    }
    running = Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def chat_command(stack: Stack, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "agentwire_client.cli",
        *args,
        "--auth-url",
        stack.auth_url,
        "--ws-url",
        stack.ws_url,
    ]


async def run_chat(
    stack: Stack, *args: str, typed: str | None = None, timeout_s: float = 30
) -> tuple[int, str, str]:
    """The chat's exit status and output; ``typed`` is its input (none: end of input at once)."""
    process = await asyncio.create_subprocess_exec(
        *chat_command(stack, *args),
        stdin=asyncio.subprocess.DEVNULL if typed is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "160"},
    )
    stdin = None if typed is None else typed.encode()
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout_s)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


async def test_chat_sends_a_message_and_prints_its_run_as_json_frames(stack: Stack) -> None:
    email = new_email()
    code, out, err = await run_chat(
        stack, "--email", email, "--password", PASSWORD, "--register",
        "--json", "--message", QUESTION, "--exit-after-run",
    )  # fmt: skip

    assert code == 0, err
    frames: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()]
    # besides the run: a streaming socket (deltas=1) may say where it stands when it joins
    assert {f["type"] for f in frames if "seq" not in f} <= {"run_accepted", "caught_up"}
    accepted = next(f for f in frames if f["type"] == "run_accepted")
    run = [f for f in frames if f.get("run_id") == accepted["run_id"] and "seq" in f]
    assert FIVE <= {f["type"] for f in run}
    assert {"message_started", "message_delta"} <= {f["type"] for f in run}
    assert run[0]["type"] == "agent_started" and run[-1]["type"] == "agent_completed"
    seqs = [f["seq"] for f in run]
    assert seqs == sorted(set(seqs)), "in order, nothing doubled"


async def test_chat_prints_a_readable_timeline(stack: Stack) -> None:
    code, out, err = await run_chat(
        stack, "--email", new_email(), "--password", PASSWORD, "--register",
        "--message", QUESTION, "--exit-after-run",
    )  # fmt: skip

    assert code == 0, err
    assert re.search(r"→ run \w{8} accepted, thread \w{8} · (starting|queued)", out), out
    assert "▶ infra_analyst" in out
    assert "⚙ analyze_performance(" in out and "✓ analyze_performance" in out
    assert " ms  → " in out, "tool results come with their duration"
    assert "answer" in out and "p99" in out


async def test_chat_types_the_answer_out_and_says_when_it_is_whole(stack: Stack) -> None:
    code, out, err = await run_chat(
        stack, "--email", new_email(), "--password", PASSWORD, "--register",
        "--message", QUESTION, "--exit-after-run",
    )  # fmt: skip

    assert code == 0, err
    assert re.search(r"^answer$", out, re.MULTILINE), out  # the heading the text types under
    assert re.search(r"^✓ answered · [\d.]+ (s|ms)$", out, re.MULTILINE), out
    assert out.count("Latency for the api service, last 7 days") == 1, "typed out, not repeated"
    assert "⋯ analyze_performance" in out, "its progress"


async def test_chat_with_no_stream_prints_whole_thoughts_and_the_answer_in_a_box(
    stack: Stack,
) -> None:
    code, out, err = await run_chat(
        stack, "--email", new_email(), "--password", PASSWORD, "--register",
        "--no-stream", "--message", QUESTION, "--exit-after-run",
    )  # fmt: skip

    assert code == 0, err
    assert "╭─ answer" in out and "✓ answered" not in out and "⋯ " not in out


async def test_chat_help_lists_its_commands_and_quit_exits_0(stack: Stack) -> None:
    code, _, err = await run_chat(
        stack, "--email", new_email(), "--password", PASSWORD, "--register",
        typed="/help\n/quit\n",
    )  # fmt: skip

    assert code == 0, err
    for command in ("/new", "/threads", "/help", "/quit"):
        assert command in err
    assert "Traceback" not in err


async def test_chat_exits_0_at_the_end_of_its_input(stack: Stack) -> None:
    code, _, err = await run_chat(stack, "--email", new_email(), "--password", PASSWORD,
                                  "--register", typed="")  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err


async def test_chat_takes_credentials_from_the_environment(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = new_email()
    await register(stack.auth_url, email, PASSWORD)
    monkeypatch.setenv("AGENTWIRE_EMAIL", email)
    monkeypatch.setenv("AGENTWIRE_PASSWORD", PASSWORD)
    code, out, err = await run_chat(stack, "--json", "-m", QUESTION, "--exit-after-run")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["type"] == "agent_completed"


async def test_chat_with_a_wrong_password_exits_2_and_says_why(stack: Stack) -> None:
    email = new_email()
    await register(stack.auth_url, email, PASSWORD)
    code, _, err = await run_chat(
        stack, "--email", email, "--password", "wrong password!", "-m", "hi", "--exit-after-run"
    )
    assert code == 2
    assert "invalid_credentials" in err


async def test_tail_watches_runs_started_elsewhere(stack: Stack) -> None:
    email = new_email()
    await register(stack.auth_url, email, PASSWORD)
    tail = await asyncio.create_subprocess_exec(
        *chat_command(stack, "tail", "--json", "--email", email, "--password", PASSWORD),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert tail.stdout is not None and tail.stderr is not None
    try:
        ready = await asyncio.wait_for(tail.stderr.readline(), 20)
        assert b"watching" in ready, ready
        async with Client(stack.ws_url, await login(stack.auth_url, email, PASSWORD)) as client:
            accepted = await client.send(QUESTION)
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(20):
            while not seen or seen[-1]["type"] not in TERMINAL_TYPES:
                frame = json.loads(await tail.stdout.readline())
                if frame.get("run_id") == accepted["run_id"]:
                    seen.append(frame)
    finally:
        if tail.returncode is None:
            tail.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(tail.wait(), 10)

    assert FIVE <= {f["type"] for f in seen}
    assert code == 0, "Ctrl-C ends tail cleanly"


async def test_chat_offers_the_agents_and_sends_to_the_one_picked(stack: Stack) -> None:
    typed = "/agents\n/agent echo\n/agent\nhello there\n/agent nobody\nstill you?\n/quit\n"
    code, out, err = await run_chat(
        stack, "--email", new_email(), "--password", PASSWORD, "--register", typed=typed
    )

    assert code == 0, err
    assert "talking to infra_analyst (the default), one of 2 agents: /agents lists them, " \
        "/agent <name> switches" in err  # fmt: skip
    assert re.search(r"▸ infra_analyst +Analyses the latency.*\(default\)$", out, re.M), out
    assert re.search(r"^ {4}echo +Repeats your message\.$", out, re.MULTILINE), out
    assert "now talking to echo: Repeats your message." in err
    assert "talking to echo: Repeats your message." in err.split("now talking", 1)[1]
    assert "echo: hello there" in out and "▶ echo" in out
    assert "no agent here is named nobody; the agents are infra_analyst, echo. Nothing was " \
        "sent; still talking to echo" in err  # fmt: skip
    assert "echo: still you?" in out, "the refusal changed nothing: still echo"
    assert len(re.findall(r"→ run \w{8} accepted", out)) == 2, "nobody's message was not sent"


async def test_chat_with_a_single_agent_option_runs_there_or_refuses_it(stack: Stack) -> None:
    email = new_email()
    code, out, err = await run_chat(
        stack, "--email", email, "--password", PASSWORD, "--register",
        "--agent", "echo", "-m", "ping", "--exit-after-run",
    )  # fmt: skip
    assert code == 0, err
    assert "echo: ping" in out

    code, out, err = await run_chat(
        stack, "--email", email, "--password", PASSWORD,
        "--agent", "nobody", "-m", "ping", "--exit-after-run",
    )  # fmt: skip
    assert code == 2
    assert "cannot start: no agent here is named nobody" in err
    assert "accepted" not in out
