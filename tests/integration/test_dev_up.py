"""`./dev up`'s runner: starts everything on an embedded nats-server, Ctrl-C stops all of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devstack.natsd import free_port

pytestmark = pytest.mark.integration


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_up_serves_the_stack_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    auth_port, gateway_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    env |= {"AUTH_PORT": str(auth_port), "GATEWAY_PORT": str(gateway_port)}
    up = subprocess.Popen(
        [sys.executable, "-m", "devstack", "up", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert up.stdout is not None
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if "agentwire is up" in line or not line:
                break
        assert any("agentwire is up" in line for line in lines), "".join(lines)
        children = _children_of(up.pid)
        assert len(children) == 5, "nats-server and four services"
        assert httpx.get(f"http://127.0.0.1:{auth_port}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{gateway_port}/healthz").status_code == 200

        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert up.wait(timeout=30) == 0
        for pid in children:
            assert (
                not Path(f"/proc/{pid}").exists()
                or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
            )
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        up.stdout.close()
