"""Starting one agentwire service as a real process and knowing when it is ready.

Each service prints ``agentwire service ready: <name>`` once it serves; a reader thread tees the
process's output to a sink (the console for ``./dev up``, a log file in tests) and watches for it.
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
    process: subprocess.Popen[str] | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    def start(self) -> ServiceProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"out-{self.label}")
        self._reader.start()
        return self

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

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited in ``timeout_s``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._release()
        return self.process.returncode
