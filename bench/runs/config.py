"""What one ``./dev bench runs`` measures, from its command line (``./dev bench runs --help``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from bench.procs import REPO_ROOT

__all__ = ["DEFAULT_MESSAGE", "RunsConfig", "parse_args"]

DEFAULT_MESSAGE = "Why is the api slow this week?"


@dataclass(frozen=True, slots=True)
class RunsConfig:
    users: int = 1000  # one socket each; the burst is one message from every one of them
    agents: tuple[int, ...] = (1, 2)  # a fresh stack per agent-process count
    rates: tuple[float, ...] = (20, 50, 100, 150, 200, 300, 400)  # open loop, runs/s, in turn
    warmup_s: float = 1.0  # sent but not measured, at the start of each rate
    phase_s: float = 10.0  # measured, per rate
    drain_s: float = 15.0  # after a rate's last send, wait at most this for its runs to end
    quiet_s: float = 1.0  # a phase ends once the stream has taken no event for this long
    burst: bool = True
    burst_every_series: bool = True  # False: only with the first agent count
    burst_timeout_s: float = 120.0  # the burst's runs must all end within this
    think_delay_s: float = 0.0  # THINK_DELAY_S: the agent's pause between steps
    message: str = DEFAULT_MESSAGE
    clients_procs: int = 2  # load-generator processes
    connect_concurrency: int = 100  # handshakes in flight per load-generator process
    log_level: str = "INFO"  # the services' LOG_LEVEL (their default)
    max_run_s: float = 900.0  # the whole run is cut off after this
    root: Path = REPO_ROOT  # where the services run from (a directory with services/, shared/)
    at: str | None = None  # run services, shared and devstack as of this commit instead
    commit: str | None = None  # set by ``--at`` for the run it starts in the snapshot
    results_dir: Path = REPO_ROOT / "bench" / "results"
    quick: bool = False


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def parse_args(argv: list[str] | None = None) -> RunsConfig:
    parser = argparse.ArgumentParser(
        prog="./dev bench runs",
        description="The whole stack, real services: a burst of messages, then open-loop rates "
        "up to saturation, with one and with two agent processes.",
    )
    parser.add_argument("--users", type=int, help="users, one socket each (1000)")
    parser.add_argument("--agents", type=_ints, help="agent-process counts, e.g. 1,2")
    parser.add_argument("--rates", type=_floats, help="open-loop runs/s, e.g. 20,50,100")
    parser.add_argument("--phase-seconds", type=float, help="measured seconds per rate (10)")
    parser.add_argument("--no-burst", action="store_true", help="skip the burst")
    parser.add_argument("--think-delay", type=float, help="THINK_DELAY_S for the agents (0)")
    parser.add_argument("--message", help="what every user asks")
    parser.add_argument("--clients-procs", type=int, help="load-generator processes (2)")
    parser.add_argument("--log-level", help="the services' LOG_LEVEL (INFO)")
    parser.add_argument("--max-seconds", type=float, help="cut the whole run off (900)")
    parser.add_argument("--root", type=Path, help="run the services from this tree")
    parser.add_argument(
        "--at", help="run services/, shared/ and devstack/ as committed in this revision"
    )
    parser.add_argument("--commit", help=argparse.SUPPRESS)
    parser.add_argument("--results-dir", type=Path, help="where the JSON goes")
    parser.add_argument("--quick", action="store_true", help="a small run (~1-2 min)")
    args = parser.parse_args(argv)

    config = RunsConfig()
    if args.quick:
        config = replace(
            config,
            quick=True,
            rates=(20, 50, 100, 200),
            warmup_s=0.5,
            phase_s=3.0,
            drain_s=5.0,
            burst_timeout_s=60.0,
            burst_every_series=False,
            max_run_s=300.0,
        )
    overrides = {
        "users": args.users,
        "agents": args.agents,
        "rates": args.rates,
        "phase_s": args.phase_seconds,
        "burst": False if args.no_burst else None,
        "think_delay_s": args.think_delay,
        "message": args.message,
        "clients_procs": args.clients_procs,
        "log_level": args.log_level,
        "max_run_s": args.max_seconds,
        "root": args.root.resolve() if args.root else None,
        "at": args.at,
        "commit": args.commit,
        "results_dir": args.results_dir,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if config.users < 1 or config.clients_procs < 1 or not config.agents:
        parser.error("--users, --clients-procs and --agents must be at least 1")
    if any(n < 1 for n in config.agents) or any(r <= 0 for r in config.rates):
        parser.error("agent counts and rates must be positive")
    return config
