"""``python -m services.agent`` as a supervisor sees it: ready line, clean stop, clear refusal."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import nats
import pytest

from shared.wire.runs import RunStarted
from tests.component.agent.support import new_user, submit

ROOT = Path(__file__).resolve().parents[3]


def agent_env(**overrides: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "THINK_DELAY_S": "0", **overrides}


async def start_agent(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.agent",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def ready_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(20):
        while line := (await process.stdout.readline()).decode():
            if "agentwire service ready: agent" in line:
                return line
    raise AssertionError("the agent exited without announcing it was ready")


async def test_agent_process_announces_ready_takes_runs_and_stops_cleanly_on_sigterm(
    nats_url: str, tmp_path: Path
) -> None:
    database = tmp_path / "fresh" / "agent.db"
    process = await start_agent(
        agent_env(NATS_URL=nats_url, DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    )
    try:
        await ready_line(process)
        client = await nats.connect(nats_url)
        try:
            reply = await submit(client, user_id=new_user(), content="latency")
        finally:
            await client.drain()
        assert isinstance(reply, RunStarted)
        assert database.exists()

        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            await process.communicate()
        assert process.returncode == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("AGENT_MAX_CONCURRENT_RUNS", "many"), ("DATABASE_URL", "no-such-driver://x")],
)
async def test_agent_process_refuses_bad_configuration_naming_the_variable(
    variable: str, value: str
) -> None:
    process = await start_agent(agent_env(**{variable: value}))
    async with asyncio.timeout(15):
        stdout, stderr = await process.communicate()

    assert process.returncode == 2
    assert variable in stderr.decode()
    assert "ready" not in stdout.decode()
