"""Approvals from Python and from the terminal chat, against a stack whose slow_task needs one."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentwire_client import (
    ApprovalUpdate,
    Client,
    RunStatus,
    RunUpdate,
    ServerError,
    Transcript,
    login,
    register,
)
from devstack.stack import Stack

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SLOW = "slow_task seconds=1 steps=2"


@pytest.fixture(scope="module")
def stack(nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("approvals-stack")

    def sink(name: str, line: str) -> None:
        with open(Path(data_dir) / f"{name}.log", "a") as out:
            out.write(line + "\n")

    env = {"THINK_DELAY_S": "0.01", "APPROVAL_TOOLS": "slow_task"}
    running = Stack(data_dir=data_dir, sink=sink, nats_url=nats_url, extra_env=env)
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def new_account(stack: Stack) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    await register(stack.auth_url, email, PASSWORD)
    return email, await login(stack.auth_url, email, PASSWORD)


async def test_a_client_approves_a_tool_call_and_the_run_completes(stack: Stack) -> None:
    _, token = await new_account(stack)
    transcript = Transcript()
    async with Client(stack.ws_url, token, deltas=True) as client:
        accepted = await client.send(SLOW)
        async with asyncio.timeout(30):
            async for update in transcript.follow(client):
                if isinstance(update, ApprovalUpdate) and update.approval.decision is None:
                    decided = await client.approve(update.approval.approval_id)
                    assert (decided["decision"], decided["first"]) == ("approved", True)
                if isinstance(update, RunUpdate) and update.run.ended:
                    break
        with pytest.raises(ServerError) as stranger:
            await client.approve("0" * 32)

    run = transcript.runs[accepted["run_id"]]
    assert run.status is RunStatus.COMPLETED and run.waiting_for == []
    assert [a.decision for a in run.approvals.values()] == ["approved"]
    assert stranger.value.code == "approval_not_found"


async def test_the_chat_asks_and_a_no_with_a_reason_denies(stack: Stack) -> None:
    email, _ = await new_account(stack)
    chat = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agentwire_client.cli", "--auth-url", stack.auth_url,
        "--ws-url", stack.ws_url, "--email", email, "--password", PASSWORD,
        "-m", SLOW, "--exit-after-run",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    out, err = await asyncio.wait_for(chat.communicate(b"n not today\n"), 30)

    assert chat.returncode == 1, err
    assert "? slow_task(seconds=1, steps=2) needs your approval" in out.decode()
    assert "approve?" in err.decode()
    assert "denied: not today" in out.decode()
