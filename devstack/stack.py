"""The whole stack on one machine: nats-server (embedded unless given), keys, four services.

``own_process_groups`` puts every process it starts out of the terminal's Ctrl-C, for a supervisor
(``./dev up``) that stops them itself, services first and nats-server last.

Auth signs with a key ring (``<data>/keys/ring``, ``JWT_KEYS_DIR``): rotate by adding a key with
``devstack.keys.add_ring_key`` and retire with ``retire_ring_key``, no restart. Gateways get the
public keys from auth over NATS, so they need no key file.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.keys import ensure_key_ring
from devstack.natsauth import OPERATOR, authorization_block, ensure_credentials
from devstack.natsd import EmbeddedNats, free_port
from devstack.processes import ServiceProcess
from devstack.supervisor import describe_exit

__all__ = ["SERVICES", "STOP_WAVES", "Stack"]

# Start order: tools and agent first so the gateway never accepts a message no agent can take.
SERVICES = ("auth", "tools", "agent", "ws_gateway")
# Stop order, in waves: the gateway (it closes sockets with 4000) and the agent (it ends the runs
# still going with agent_stopped, cancelling their tool calls while the tool runner can still
# answer), then what they used, then nats-server, which they all drain into on their way out.
STOP_WAVES = (("ws_gateway", "agent"), ("auth", "tools"))


def port_or_free(preferred: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


@dataclass
class Stack:
    data_dir: Path
    sink: Callable[[str, str], None]
    nats_url: str | None = None
    nats_port: int | None = None
    auth_port: int = field(default_factory=free_port)
    gateway_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    own_process_groups: bool = False
    nats: EmbeddedNats | None = None
    nats_passwords: dict[str, str] | None = None  # set when the stack runs its own nats-server
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def key_ring_dir(self) -> Path:
        return self.data_dir / "keys" / "ring"

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.auth_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        ensure_key_ring(self.key_ring_dir)
        assert self.nats_url is not None
        return {
            "NATS_URL": self.nats_url,
            "AUTH_PORT": str(self.auth_port),
            "GATEWAY_PORT": str(self.gateway_port),
            "JWT_KEYS_DIR": str(self.key_ring_dir),
            "AUTH_DATABASE_URL": f"sqlite+aiosqlite:///{self.data_dir / 'auth.db'}",
            "AGENT_DATABASE_URL": f"sqlite+aiosqlite:///{self.data_dir / 'agent.db'}",
            **self.extra_env,
        }

    @property
    def operator_nats_url(self) -> str:
        """A URL with full rights, for people and tests looking inside (never for a service)."""
        assert self.nats_url is not None
        if self.nats_passwords is None:
            return self.nats_url
        login = f"nats://{OPERATOR}:{self.nats_passwords[OPERATOR]}@"
        return ",".join(url.replace("nats://", login) for url in self.nats_url.split(","))

    def start_nats(self) -> None:
        """Run our own nats-server, with one NATS user per service, unless given a URL."""
        if self.nats_url is None:
            self.nats_passwords = ensure_credentials(self.data_dir / "nats")
            self.nats = EmbeddedNats(
                store_dir=self.data_dir / "nats",
                port=self.nats_port or free_port(),
                authorization=authorization_block(self.nats_passwords),
                log_file=self.data_dir / "nats-server.log",
                own_process_group=self.own_process_groups,
            ).start()
            self.nats_url = self.nats.url

    def start_service(
        self, name: str, label: str | None = None, env: dict[str, str] | None = None
    ) -> ServiceProcess:
        """Start one more process of service ``name``; ``label`` tells several apart."""
        full_env = self.env()
        # Each service reads DATABASE_URL; the stack gives each service its own database.
        db = full_env.get(f"{name.upper()}_DATABASE_URL")
        if db:
            full_env["DATABASE_URL"] = db
        if self.nats_passwords is not None:
            full_env |= {"NATS_USER": name, "NATS_PASSWORD": self.nats_passwords[name]}
        full_env |= env or {}
        label = label or name
        if label in self.services and self.services[label].alive():
            label = f"{label}-{sum(k.startswith(label) for k in self.services) + 1}"
        proc = ServiceProcess(
            name=name,
            env=full_env,
            sink=self.sink,
            label=label,
            own_process_group=self.own_process_groups,
        ).start()
        self.services[label] = proc
        return proc

    def restart_service(self, label: str) -> ServiceProcess:
        """Start the process ``label`` again (after it exited), same service and environment."""
        old = self.services[label]
        old.stop()  # already exited: this only reaps it and closes its pipe
        self.services[label] = old.respawn()
        return self.services[label]

    def restart_nats(self) -> EmbeddedNats:
        """Start the embedded nats-server again: same port and store, so JetStream recovers."""
        assert self.nats is not None
        self.nats.stop()
        return self.nats.start()

    def start_gateway(self, label: str, port: int | None = None) -> tuple[ServiceProcess, str]:
        """Another gateway process beside the first; returns it and its WebSocket URL."""
        port = port or free_port()
        proc = self.start_service("ws_gateway", label, {"GATEWAY_PORT": str(port)})
        proc.wait_ready()
        return proc, f"ws://127.0.0.1:{port}/ws"

    def start(self, timeout_s: float = 30.0) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.start_nats()
        started = [self.start_service(name) for name in SERVICES]
        for proc in started:
            proc.wait_ready(timeout_s)
        return self

    def stop(self, say: Callable[[str], None] | None = None) -> None:
        """The services in :data:`STOP_WAVES` (SIGTERM to a wave at once, then wait for each),
        then nats-server: the services drain into it on their way out, so it must outlive them.
        ``say`` hears each process once it has stopped."""
        for wave in self._stop_waves():
            for proc in wave:
                proc.terminate()
            for proc in wave:
                status = proc.stop()
                if say is not None and status is not None:
                    say(f"{proc.label} stopped: it {describe_exit(status)}")
        if self.nats is not None:
            self.nats.stop()
            if say is not None:
                say("nats-server stopped")

    def _stop_waves(self) -> list[list[ServiceProcess]]:
        first = [p for p in self.services.values() if p.name in STOP_WAVES[0]]
        return [first, [p for p in self.services.values() if p not in first]]

    def kill(self) -> None:
        """kill -9 every process, without waiting: for when a clean stop takes too long."""
        for proc in self.services.values():
            if proc.alive():
                assert proc.process is not None
                proc.process.kill()
        if self.nats is not None and self.nats.process is not None:
            if self.nats.process.poll() is None:
                self.nats.process.kill()
