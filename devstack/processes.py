"""Starting one agentwire service as a real process and knowing when it is ready.

Each service prints ``agentwire service ready: <name>`` once it serves; a reader thread tees the
process's output to a sink (the console for ``./dev up``, a log file in tests) and watches for it.

With ``own_process_group`` the process leads a process group of its own, so the Ctrl-C a
terminal sends to its foreground group reaches only the supervisor (``./dev up``), which then
stops the services before the nats-server they drain into.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["ServiceProcess"]

READY_MARK = "agentwire service ready: "


@dataclass
class ServiceProcess:
    name: str  # the service: runs ``python -m services.<name>``
    env: Mapping[str, str]
    sink: Callable[[str, str], None]
    label: str = ""  # how its output is labelled; several processes of one service differ here
    own_process_group: bool = False
    process: subprocess.Popen[str] | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None
    _terminated: bool = False

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    def start(self) -> ServiceProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0 if self.own_process_group else None,
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"out-{self.label}")
        self._reader.start()
        return self

    def respawn(self) -> ServiceProcess:
        """A new process of the same service, label and environment, started."""
        return ServiceProcess(
            name=self.name,
            env=self.env,
            sink=self.sink,
            label=self.label,
            own_process_group=self.own_process_group,
        ).start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            if READY_MARK + self.name in line:
                self._ready.set()
            self.sink(self.label, line.rstrip("\n"))

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        assert self.process is not None
        step = 0.05
        waited = 0.0
        while not self._ready.wait(step):
            waited += step
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode} before ready"
                )
            if waited >= timeout_s:
                raise RuntimeError(f"{self.name} not ready within {timeout_s}s")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll(self) -> int | None:
        """The exit status once it has exited (``-N``: killed by signal N), else None."""
        assert self.process is not None
        return self.process.poll()

    def is_ready(self) -> bool:
        """It has printed its ready line (and may have exited since)."""
        return self._ready.is_set()

    def kill(self) -> None:
        """kill -9: the crash case, no clean-up."""
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()
        self._release()

    def _release(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def terminate(self) -> None:
        """SIGTERM, once: a second one makes some servers (uvicorn) skip their graceful stop."""
        if self.alive() and not self._terminated:
            assert self.process is not None
            self._terminated = True
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited in ``timeout_s``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.sink(self.label, f"still running {timeout_s:g} s after SIGTERM; killing it")
                self.process.kill()
                self.process.wait()
        self._release()
        return self.process.returncode
