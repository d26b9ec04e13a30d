"""One scenario = N users: a fresh nats-server, then each system in turn through the same phases.

Per system: start its servers, read their RSS, open one socket per user, read RSS again (memory
per idle connection), then latency at a light fixed rate, throughput (flat out, closed loop),
latency at the target rate (50k/s; may overload), and reconnect probes. nats-server's own
WebSocket goes first, so its baseline RSS is a fresh server's; the stream is purged between
systems.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.phases import Fleet, probe_phase, publish_phase
from bench.procs import GatewayProcess, prepare_stream, purge_stream
from bench.stats import rss_bytes
from bench.tokens import BenchTokens
from bench.worker import WorkerError
from devstack.natsd import EmbeddedNats, free_port

__all__ = ["Harness", "idle_scenario", "run_scenario", "system_plan"]


@dataclass
class Harness:
    config: BenchConfig
    workdir: Path
    fleet: Fleet
    issuer: BenchTokens
    public_key: Path
    nats: EmbeddedNats | None = None
    gateways: tuple[GatewayProcess, ...] = ()

    def stop_servers(self) -> None:
        for gateway in self.gateways:
            gateway.stop()
        self.gateways = ()
        if self.nats is not None:
            self.nats.stop()
            self.nats = None


def system_plan(config: BenchConfig) -> list[tuple[str, int]]:
    """(system, gateway processes) in the order they run."""
    plan: list[tuple[str, int]] = []
    if "natsws" in config.systems:
        plan.append(("natsws", 0))
    if "agentwire" in config.systems:
        plan += [("agentwire", g) for g in config.gateways]
    return plan


def label(system: str, gateways: int) -> str:
    return "nats-server ws" if system == "natsws" else f"agentwire x{gateways}"


def _start_nats(h: Harness, name: str) -> EmbeddedNats:
    store = h.workdir / f"nats-{name}"
    h.nats = EmbeddedNats(
        store_dir=store, websocket_port=free_port(), log_file=h.workdir / f"nats-{name}.log"
    ).start()
    asyncio.run(prepare_stream(h.nats.url))
    h.fleet.nats_port = h.nats.port
    return h.nats


def _start_gateways(h: Harness, nats: EmbeddedNats, count: int) -> None:
    gateways = []
    for i in range(count):
        env = {
            "JWT_PUBLIC_KEY_FILE": str(h.public_key),
            "NATS_URL": nats.url,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
        }
        log = h.workdir / f"gateway{i}.log"
        gateways.append(GatewayProcess(i, env, log, h.config.gateway_root).start())
    h.gateways = tuple(gateways)
    for gateway in gateways:
        gateway.wait_ready()


def _entries(h: Harness, system: str, users: list[str]) -> list[list[tuple[str, str | None, int]]]:
    """Users dealt round robin to the load generators, each with its server port and token."""
    assert h.nats is not None and h.nats.websocket_port is not None
    per_proc: list[list[tuple[str, str | None, int]]] = [[] for _ in h.fleet.loadgens]
    for i, user in enumerate(users):
        if system == "agentwire":
            entry = (user, h.issuer.issue(user), h.gateways[i % len(h.gateways)].port)
        else:
            entry = (user, None, h.nats.websocket_port)
        per_proc[i % len(per_proc)].append(entry)
    return per_proc


def _server_pids(h: Harness, system: str) -> dict[str, int]:
    if system == "natsws":
        assert h.nats is not None and h.nats.process is not None
        return {"nats-server": h.nats.process.pid}
    return {f"gateway{g.index}": g.pid for g in h.gateways}


def _connect_idle(h: Harness, system: str, users: list[str]) -> dict[str, Any]:
    """Open every user's socket; the servers' RSS before and after is the memory per socket."""
    servers = _server_pids(h, system)
    time.sleep(0.3)
    rss0 = {name: rss_bytes(pid) or 0 for name, pid in servers.items()}
    per_proc = _entries(h, system, users)
    fleet = h.fleet
    timeout = 30.0 + len(users) / 200
    for worker, entries in zip(fleet.loadgens, per_proc, strict=True):
        worker.send("connect", system, entries, h.config.connect_concurrency, 20.0)
    results = [worker.result(timeout) for worker in fleet.loadgens]
    opened = sum(r["opened"] for r in results)
    time.sleep(h.config.settle_s)
    rss1 = {name: rss_bytes(pid) or 0 for name, pid in servers.items()}
    grown = sum(rss1.values()) - sum(rss0.values())
    return {
        "opened": opened,
        "failed": sum(r["failed"] for r in results),
        "connect_errors": [e for r in results for e in r["errors"]],
        "connect_seconds": round(max(r["seconds"] for r in results), 2),
        "rss_before_mb": {k: round(v / 2**20, 1) for k, v in rss0.items()},
        "rss_after_mb": {k: round(v / 2**20, 1) for k, v in rss1.items()},
        "kb_per_idle_conn": round(grown / opened / 1024, 1) if opened else None,
    }


def _run_system(h: Harness, system: str, gateways: int, n_users: int) -> dict[str, Any]:
    cfg = h.config
    users = [f"u{i:05d}" for i in range(n_users)]
    assert h.nats is not None and h.nats.process is not None
    if system == "agentwire":
        _start_gateways(h, h.nats, gateways)
    fleet = h.fleet
    fleet.pids = {
        **_server_pids(h, system),
        "nats-server": h.nats.process.pid,
        **{f"publisher{i}": p.pid for i, p in enumerate(fleet.publishers)},
        **{f"loadgen{i}": w.pid for i, w in enumerate(fleet.loadgens)},
    }
    try:
        result: dict[str, Any] = {"system": system, "gateways": gateways}
        result["idle"] = _connect_idle(h, system, users)
        common = {"warmup_s": cfg.warmup_s, "phase_s": cfg.phase_s, "backlog": 10**9}
        # Light load first and overload last, so an overloaded system cannot spoil the others.
        result["light"] = publish_phase(
            fleet,
            users,
            rate=cfg.light_rate,
            overload_lag=cfg.overload_lag(cfg.light_rate),
            **common,
        )
        result["throughput"] = publish_phase(
            fleet, users, rate=0.0, **{**common, "backlog": cfg.backlog(n_users)}
        )
        result["latency"] = publish_phase(
            fleet,
            users,
            rate=cfg.latency_rate,
            overload_lag=cfg.overload_lag(cfg.latency_rate),
            **common,
        )
        probe_users = users[0 :: len(fleet.loadgens)][: cfg.probes]
        result["reconnect"] = probe_phase(
            fleet, probe_users, rate_per_user=cfg.probe_rate_per_user, offline_s=cfg.probe_offline_s
        )
        return result
    finally:
        _close_sockets(h)


def _close_sockets(h: Harness) -> None:
    """Close every client socket, then stop the gateways; a dead worker does not stop that."""
    try:
        h.fleet.all_loadgens("close_all", timeout_s=60)
    except (WorkerError, TimeoutError) as exc:
        print(f"bench: closing sockets: {exc}", file=sys.stderr)
    finally:
        for gateway in h.gateways:
            gateway.stop()
        h.gateways = ()


def run_scenario(h: Harness, n_users: int) -> dict[str, Any]:
    nats = _start_nats(h, f"{n_users}users")
    try:
        systems: dict[str, Any] = {}
        for system, gateways in system_plan(h.config):
            print(f"  {label(system, gateways)}: {n_users} users ...", flush=True)
            systems[label(system, gateways)] = _run_system(h, system, gateways, n_users)
            asyncio.run(purge_stream(nats.url))
        return {"users": n_users, "systems": systems}
    finally:
        h.stop_servers()


def idle_scenario(h: Harness, n_users: int) -> dict[str, Any]:
    """Many idle sockets: memory, and one event to every socket to show each is live."""
    nats = _start_nats(h, f"idle{n_users}")
    users = [f"i{i:05d}" for i in range(n_users)]
    results: dict[str, Any] = {}
    try:
        for system, gateways in [(s, 1 if s == "agentwire" else 0) for s in h.config.systems]:
            print(f"  {label(system, gateways)}: {n_users} idle sockets ...", flush=True)
            if system == "agentwire":
                _start_gateways(h, nats, gateways)
            h.fleet.pids = _server_pids(h, system)
            try:
                idle = _connect_idle(h, system, users)
                rate = 20_000.0
                touch = publish_phase(
                    h.fleet,
                    users,
                    rate=rate,
                    backlog=10**9,
                    warmup_s=0.0,
                    phase_s=n_users / rate,
                )
                results[label(system, gateways)] = {"idle": idle, "one_event_each": touch}
            finally:
                _close_sockets(h)
            asyncio.run(purge_stream(nats.url))
        return {"users": n_users, "systems": results}
    finally:
        h.stop_servers()
