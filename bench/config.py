"""What one ``./dev bench`` run measures, from its command line (``python -m bench --help``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from bench.procs import REPO_ROOT

__all__ = ["BenchConfig", "parse_args"]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    users: tuple[int, ...] = (10, 100, 1000)
    gateways: tuple[int, ...] = (1,)  # agentwire is measured once per gateway count
    systems: tuple[str, ...] = ("natsws", "agentwire")
    clients_procs: int = 2
    publishers: int = 1
    latency_rate: float = 50_000.0  # events/s offered during the latency phase
    light_rate: float = 10_000.0  # events/s for a second latency figure, well under capacity
    warmup_s: float = 1.0  # published but not measured, at the start of each phase
    phase_s: float = 6.0  # measured, per phase
    settle_s: float = 1.0  # idle sockets sit this long before memory is read
    backlog_per_user: int = 200  # flat out: events published but not yet received, per user
    backlog_min: int = 5_000  # (the gateway closes a socket with more than 1,024 queued)
    backlog_max: int = 20_000
    probes: int = 20  # reconnect probes per system and scenario
    probe_rate_per_user: float = 1000.0  # events/s to each probed user while it reconnects
    probe_offline_s: float = 0.05  # how long a probed socket stays away (~50 events missed)
    idle_sockets: int = 10_000  # the "many idle sockets on one gateway" scenario; 0 skips it
    connect_concurrency: int = 200  # handshakes in flight per load-generator process
    max_run_s: float = 1800.0  # the whole run is cut off after this
    gateway_root: Path = REPO_ROOT  # a directory holding services/ and shared/ (a patched copy)
    results_dir: Path = REPO_ROOT / "bench" / "results"
    quick: bool = False

    def overload_lag(self, rate: float) -> int:
        """Undelivered events that end a fixed-rate phase: two seconds' worth.

        A socket that falls behind sooner is the gateway's to close (4008, counted in the
        table); this only stops a hopeless phase from queueing into the next one.
        """
        return int(max(1000, 2 * rate))

    def backlog(self, users: int) -> int:
        return max(self.backlog_min, min(self.backlog_max, self.backlog_per_user * users))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    parser = argparse.ArgumentParser(
        prog="./dev bench",
        description="agentwire's gateway against nats-server's own WebSocket listener.",
    )
    parser.add_argument("--users", type=_ints, help="scenarios, e.g. 10,100,1000")
    parser.add_argument("--gateways", type=_ints, help="gateway processes, e.g. 1,2")
    parser.add_argument("--systems", help="natsws,agentwire (default both)")
    parser.add_argument("--clients-procs", type=int, help="load-generator processes (default 2)")
    parser.add_argument("--publishers", type=int, help="publisher processes (default 1)")
    parser.add_argument("--rate", type=float, help="events/s for the latency phase (50000)")
    parser.add_argument("--phase-seconds", type=float, help="measured seconds per phase (6)")
    parser.add_argument("--probes", type=int, help="reconnect probes per scenario (20)")
    parser.add_argument("--idle-sockets", type=int, help="idle sockets on one gateway (10000)")
    parser.add_argument("--max-seconds", type=float, help="cut the whole run off (1800)")
    parser.add_argument("--gateway-root", type=Path, help="run the gateway from this tree")
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes")
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run")
    args = parser.parse_args(argv)

    config = BenchConfig()
    if args.quick:
        config = replace(
            config,
            quick=True,
            users=(1000,),
            warmup_s=0.3,
            phase_s=1.0,
            settle_s=0.3,
            probes=3,
            idle_sockets=0,
        )
    overrides = {
        "users": args.users,
        "gateways": args.gateways,
        "systems": tuple(args.systems.split(",")) if args.systems else None,
        "clients_procs": args.clients_procs,
        "publishers": args.publishers,
        "latency_rate": args.rate,
        "phase_s": args.phase_seconds,
        "probes": args.probes,
        "idle_sockets": args.idle_sockets,
        "max_run_s": args.max_seconds,
        "gateway_root": args.gateway_root.resolve() if args.gateway_root else None,
        "results_dir": args.results_dir,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    unknown = set(config.systems) - {"natsws", "agentwire"}
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    if config.clients_procs < 1 or config.publishers < 1:
        parser.error("--clients-procs and --publishers must be at least 1")
    return config
