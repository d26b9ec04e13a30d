"""``Stack.stop``: the gateway and the agent first, then auth and tools, then nats-server; each
process named once it has stopped. Fake processes: nothing is started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.stack import Stack


@dataclass
class FakeProcess:
    name: str
    log: list[str]
    label: str = ""

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    def terminate(self) -> None:
        self.log.append(f"SIGTERM {self.label}")

    def stop(self) -> int:
        self.log.append(f"reaped {self.label}")
        return 0


class FakeNats:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def stop(self) -> None:
        self.log.append("stopped nats-server")


def test_the_services_stop_in_waves_and_nats_server_last(tmp_path: Path) -> None:
    log: list[str] = []
    stack = Stack(data_dir=tmp_path, sink=lambda name, line: None, nats_url="nats://x")
    services: dict[str, Any] = {
        name: FakeProcess(name, log) for name in ("auth", "tools", "agent", "ws_gateway")
    }
    services["ws_gateway-2"] = FakeProcess("ws_gateway", log, "ws_gateway-2")
    stack.services = services
    stack.nats = FakeNats(log)  # type: ignore[assignment]
    said: list[str] = []

    stack.stop(say=said.append)

    first, second = log[:6], log[6:10]
    assert sorted(first[:3]) == ["SIGTERM agent", "SIGTERM ws_gateway", "SIGTERM ws_gateway-2"]
    assert sorted(first[3:]) == ["reaped agent", "reaped ws_gateway", "reaped ws_gateway-2"]
    assert second == ["SIGTERM auth", "SIGTERM tools", "reaped auth", "reaped tools"]
    assert log[-1] == "stopped nats-server"
    assert said[-1] == "nats-server stopped"
    assert "agent stopped: it exited with status 0" in said
