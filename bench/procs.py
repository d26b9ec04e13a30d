"""The processes under test (nats-server, gateways) and what the bench reads about them.

Gateways run in their own process group (``start_new_session``), so Ctrl-C reaches only the
bench, whose ``finally`` stops them, and stopping one kills everything it started. Reads of CPU
and memory come from ``/proc``: the bench talks to nothing but 127.0.0.1 and the local kernel.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path

import nats

from shared.bus import ensure_events_stream
from shared.settings import NatsSettings

__all__ = [
    "REPO_ROOT",
    "GatewayProcess",
    "machine_cpu",
    "prepare_stream",
    "purge_stream",
    "raise_fd_limit",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "agentwire service ready: ws_gateway"


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from ``/proc/stat``."""
    with open("/proc/stat", "rb") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tck = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tck, sum(fields) / tck


class GatewayProcess:
    """``python -m services.ws_gateway`` on a given port, with its output in a log file."""

    def __init__(self, index: int, env: dict[str, str], log_path: Path, root: Path) -> None:
        self.index = index
        self.port = int(env["GATEWAY_PORT"])
        self._env = env
        self._log_path = log_path
        self._root = root
        self._ready = threading.Event()
        self.process: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> GatewayProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.ws_gateway"],
            cwd=self._root,
            env={**os.environ, **self._env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._tee, daemon=True, name=f"gw{self.index}-out").start()
        return self

    def _tee(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with open(self._log_path, "a") as log:
            for line in self.process.stdout:
                if READY_LINE in line:
                    self._ready.set()
                log.write(line)
                log.flush()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        assert self.process is not None
        waited = 0.0
        while not self._ready.wait(0.05):
            waited += 0.05
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway {self.index} exited with {self.process.returncode}; "
                    f"see {self._log_path}"
                )
            if waited > timeout_s:
                raise RuntimeError(f"gateway {self.index} not ready in {timeout_s}s")

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM to its process group, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=timeout_s)
                return
            except subprocess.TimeoutExpired:
                continue


async def prepare_stream(url: str) -> None:
    """The EVENTS stream exactly as the services configure it (defaults: 24 h, 10,000/user)."""
    nc = await nats.connect(url)
    try:
        await ensure_events_stream(nc.jetstream(), NatsSettings(url=url))
    finally:
        await nc.close()


async def purge_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().purge_stream("EVENTS")
    finally:
        await nc.close()
