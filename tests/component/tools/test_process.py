"""``python -m services.tools`` as a supervisor sees it: ready line, clean stop, clear refusal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import nats

from devstack.natsd import free_port
from devstack.processes import READY_MARK, ServiceProcess
from shared import subjects
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded, decode_tool_reply, encode
from tests.component.tools.conftest import request_when_served


async def test_process_announces_readiness_serves_and_exits_0_on_sigterm(nats_url: str) -> None:
    lines: list[str] = []
    tools = ServiceProcess("tools", {"NATS_URL": nats_url}, lambda _, line: lines.append(line))
    tools.start()
    try:
        tools.wait_ready(timeout_s=20)
        assert sum(READY_MARK + "tools" in line for line in lines) == 1
        nc = await nats.connect(nats_url)
        try:
            request = ToolCallRequest(
                user_id=uuid.uuid4().hex,
                run_id="r",
                thread_id="t",
                tool_call_id="c",
                tool_name="estimate_savings",
                parameters={"target_utilization": 0.5},
            )
            msg = await request_when_served(
                nc, subjects.tool_call("estimate_savings"), encode(request)
            )
            assert isinstance(decode_tool_reply(msg.data), ToolCallSucceeded)
        finally:
            await nc.close()
    finally:
        exit_code = tools.stop(timeout_s=10)
        assert tools.process is not None and tools.process.stdout is not None
        tools.process.stdout.close()  # ServiceProcess leaves the pipe open
    assert exit_code == 0


def test_process_refuses_a_malformed_setting_with_exit_2_naming_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.tools"],
        env={**os.environ, "NATS_URL": "nats://127.0.0.1:9", "TOOL_CONCURRENCY": "lots"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "TOOL_CONCURRENCY" in done.stderr
    assert READY_MARK not in done.stdout


def test_process_still_waiting_for_nats_stops_cleanly_on_sigterm() -> None:
    env = {**os.environ, "NATS_URL": f"nats://127.0.0.1:{free_port()}"}  # nothing listens
    with subprocess.Popen(
        [sys.executable, "-m", "services.tools"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        # The first line logged is a failed connect: the loop runs, its signal handlers set.
        first_line = process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0, first_line + out
    assert READY_MARK not in out
