"""The stack under test: devstack's :class:`~devstack.stack.Stack`, with one or more agents.

Everything is the real thing: an embedded nats-server with one NATS user per service, auth,
tools, agent(s) and the gateway as processes (``python -m services.<name>``), SQLite databases in
a temporary directory. More agent processes are started the way the stack starts its own
(``Stack.start_service``: the same environment and the agent's NATS credentials); they share the
agent database and the ``agents`` queue group.

Users need no account: the bench signs access tokens with the newest key of the stack's own key
ring (the one auth signs with, so the gateway verifies them with the key set it gets from auth),
which skips 1,000 argon2 logins that would only measure the auth service's hashing.

``root`` runs the services from another tree: the processes start in that directory, so
``python -m services.<name>`` imports from it (``--at`` goes further: :mod:`bench.runs.tree`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bench.tokens import BenchTokens
from devstack.keys import ring_key_ids
from devstack.stack import Stack

__all__ = ["LogFiles", "StackUnderTest"]


class LogFiles:
    """Each process's output in ``<dir>/<label>.log`` (the stack's sink)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: dict[str, IO[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, line: str) -> None:
        with self._lock:
            out = self._files.get(label)
            if out is None:
                out = self._files[label] = open(self.directory / f"{label}.log", "a")
            out.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            for out in self._files.values():
                out.close()
            self._files.clear()


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class StackUnderTest:
    def __init__(
        self, data_dir: Path, agents: int, env: dict[str, str], root: Path, token_ttl_s: int
    ) -> None:
        self.agents = agents
        self.logs = LogFiles(data_dir)
        self.stack = Stack(data_dir=data_dir, sink=self.logs, extra_env=dict(env))
        self._root = root
        self._token_ttl_s = token_ttl_s

    def start(self, timeout_s: float = 60.0) -> StackUnderTest:
        self.stack.data_dir.mkdir(parents=True, exist_ok=True)
        with _working_directory(self._root):
            self.stack.start(timeout_s)
            for i in range(2, self.agents + 1):
                self.stack.start_service("agent", f"agent-{i}").wait_ready(timeout_s)
        return self

    @property
    def gateway_port(self) -> int:
        return self.stack.gateway_port

    @property
    def operator_url(self) -> str:
        return self.stack.operator_nats_url

    def pids(self) -> dict[str, int]:
        """Every process of the stack by name: nats-server, auth, tools, agent(s), ws_gateway."""
        found = {label: proc.pid for label, proc in self.stack.services.items() if proc.alive()}
        if self.stack.nats is not None and self.stack.nats.process is not None:
            found["nats-server"] = self.stack.nats.process.pid
        return found

    def agent_names(self) -> list[str]:
        return [label for label in self.stack.services if label.startswith("agent")]

    def tokens(self, users: list[str]) -> list[str]:
        ring = self.stack.key_ring_dir
        kid = ring_key_ids(ring)[-1]  # the newest signs
        issuer = BenchTokens(ring / f"{kid}.pem", ttl_s=self._token_ttl_s, kid=kid)
        return [issuer.issue(user) for user in users]

    def stop(self) -> None:
        try:
            self.stack.stop()
        finally:
            self.logs.close()
