"""`./dev up`'s runner: starts everything on an embedded nats-server, starts again whatever dies
while the rest keeps serving, and Ctrl-C stops all of it, quietly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from devstack.natsd import free_port
from devstack.stack import SERVICES
from shared.wire.events import TERMINAL_TYPES
from tests.integration.client import connect, new_account, send

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "zombie" in status.read_text().lower()


class DevUp:
    """``python -m devstack up`` on free ports, its console read line by line as it comes."""

    def __init__(self, data_dir: Path, *, via_dev: bool = False, **env: str) -> None:
        self.auth_port, self.gateway_port = free_port(), free_port()
        full_env = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
        full_env |= {"AUTH_PORT": str(self.auth_port), "GATEWAY_PORT": str(self.gateway_port)}
        runner = [str(REPO / "dev")] if via_dev else [sys.executable, "-m", "devstack"]
        self.process = subprocess.Popen(
            [*runner, "up", "--data-dir", str(data_dir)],
            env=full_env | env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a terminal's foreground group: what Ctrl-C is sent to
        )
        self.lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.auth_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/ws"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, after: int = 0, timeout_s: float = 30) -> re.Match[str]:
        """The first console line from index ``after`` on that matches ``pattern``."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout_s
        with self._changed:
            seen = after
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                if self._ended or not self._changed.wait(deadline - time.monotonic()):
                    pytest.fail(f"no line like {pattern!r}; the console:\n{self.console()}")

    def pid_of(self, service: str, after: int = 0) -> int:
        return int(self.wait_for(rf"supervisor \| {service} started \(pid (\d+)\)", after)[1])

    def console(self) -> str:
        return "\n".join(self.lines)

    def ctrl_c(self, timeout_s: float = 30) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        status = self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return status

    def close(self) -> None:
        """Whatever a failed test left running: the children first (they have groups of their
        own), then the runner."""
        if self.process.poll() is None:
            for pid in _children_of(self.process.pid):
                os.kill(pid, signal.SIGKILL)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._reader.join(timeout=5)
        assert self.process.stdout is not None
        self.process.stdout.close()


def assert_stopped_quietly_services_first(up: DevUp, children: list[int]) -> None:
    """After Ctrl-C: every process gone, no traceback, the services before nats-server."""
    console = up.console()
    assert all(_gone(pid) for pid in children)
    for noise in ("Traceback", "shutdown failed", "error:", "interrupted by SIGINT"):
        assert noise not in console, console
    stopped = [m[1] for line in up.lines if (m := re.search(r"supervisor \| (\S+) stopped", line))]
    assert sorted(stopped) == sorted([*SERVICES, "nats-server"]), console
    assert stopped[-1] == "nats-server", "nats-server outlives the services that drain into it"
    assert up.lines[-1] == "agentwire stopped"


def test_up_serves_the_stack_and_ctrl_c_stops_every_process_quietly(tmp_path: Path) -> None:
    up = DevUp(tmp_path)
    try:
        up.wait_for("agentwire is up", timeout_s=60)
        children = _children_of(up.process.pid)
        assert len(children) == 5, "nats-server and four services"
        assert httpx.get(f"{up.auth_url}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{up.gateway_port}/healthz").status_code == 200

        assert up.ctrl_c(timeout_s=15) == 0, up.console()
        assert_stopped_quietly_services_first(up, children)
    finally:
        up.close()


def test_dev_up_stops_on_ctrl_c_with_exit_0_and_no_error_from_just(tmp_path: Path) -> None:
    """``./dev up`` as typed in a terminal: Ctrl-C reaches ./dev's whole foreground group."""
    if (REPO / "pyproject.toml").stat().st_mtime > (REPO / ".venv" / ".installed").stat().st_mtime:
        pytest.skip("./dev would reinstall the project into .venv first")
    up = DevUp(tmp_path, via_dev=True)
    try:
        up.wait_for("agentwire is up", timeout_s=60)
        children = _children_of(up.process.pid)
        started = time.monotonic()
        assert up.ctrl_c(timeout_s=15) == 0, up.console()
        assert time.monotonic() - started < 10, "stopped promptly"
        assert_stopped_quietly_services_first(up, children)
    finally:
        up.close()


def test_up_gives_up_on_a_service_that_keeps_dying_at_start_up(tmp_path: Path) -> None:
    up = DevUp(tmp_path, THINK_DELAY_S="-1")  # a setting the agent refuses, with exit status 2
    try:
        up.wait_for("agent exited with status 2 before it was ready, 5 times in a row", 60)
        assert up.process.wait(timeout=30) == 1
        assert "THINK_DELAY_S" in up.console()  # the agent said why, five times
        assert "agentwire is up" not in up.console()
    finally:
        up.close()


class Socket:
    """One WebSocket's frames as they come; a close fails the test."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def until(self, wanted: Any, timeout_s: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    frame = json.loads(await self.ws.recv())
                except websockets.ConnectionClosed as closed:
                    pytest.fail(f"the socket was closed ({closed.rcvd}) while a service restarted")
                self.frames.append(frame)
                if wanted(frame):
                    return frame

    def of_run(self, run_id: str) -> list[str]:
        return [f["type"] for f in self.frames if f.get("run_id") == run_id]


def terminal_of(run_id: str) -> Any:
    return lambda frame: frame.get("run_id") == run_id and frame["type"] in TERMINAL_TYPES


async def test_up_starts_a_killed_agent_and_tools_again_while_sockets_stay_open(
    tmp_path: Path,
) -> None:
    """The promise, under ``./dev up``: kill -9 the agent and the tool runner mid-run and the socket
    stays open, the interrupted run ends once with agent_lost, and a message sent while they are
    down is accepted at once and runs when they are back."""
    up = DevUp(tmp_path, THINK_DELAY_S="1")  # a run lasts seconds: long enough to be cut short
    try:
        await asyncio.to_thread(up.wait_for, "agentwire is up", 0, 60)
        account = await new_account(up.auth_url)
        async with connect(up.ws_url, account.token) as ws:
            socket = Socket(ws)
            await send(ws, {"type": "message", "content": "Why is the api slow this week?"})
            cut_short = (await socket.until(lambda f: f["type"] == "run_accepted"))["run_id"]
            await socket.until(lambda f: f["type"] == "agent_thinking")

            killed_at = len(up.lines)
            os.kill(up.pid_of("agent"), signal.SIGKILL)
            os.kill(up.pid_of("tools"), signal.SIGKILL)
            await send(ws, {"type": "message", "content": "Any error spikes in the worker?"})
            waited = (await socket.until(lambda f: f["type"] == "run_accepted"))["run_id"]
            assert not any("service ready: agent" in line for line in up.lines[killed_at:])

            for service in ("agent", "tools"):
                line = rf"supervisor \| {service} was killed by SIGKILL .*; starting it again in"
                await asyncio.to_thread(up.wait_for, line, killed_at)
                await asyncio.to_thread(up.wait_for, f"service ready: {service}", killed_at)
            for run_id in (waited, cut_short):
                if not any(terminal_of(run_id)(f) for f in socket.frames):
                    await socket.until(terminal_of(run_id), timeout_s=30)

            assert socket.of_run(waited)[:2] == ["run_accepted", "agent_started"]
            assert socket.of_run(waited)[-1] == "agent_completed", socket.of_run(waited)
            ends = [
                (f["type"], f["data"]["code"]) for f in socket.frames if terminal_of(cut_short)(f)
            ]
            assert ends == [("agent_failed", "agent_lost")], socket.of_run(cut_short)
            assert ws.close_code is None
        assert up.ctrl_c() == 0, up.console()
        assert "Traceback" not in up.console()
    finally:
        up.close()
