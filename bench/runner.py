"""One bench run: set up the fleet, run every scenario, always clean up, print and save.

Everything the run starts is stopped in ``finally`` blocks: gateways by process group, the
nats-server, the load-generator and publisher processes. A watchdog (SIGALRM) cuts the run off
after ``max_run_s``; Ctrl-C stops it too. Results gathered so far are still printed and saved.
"""

from __future__ import annotations

import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report
from bench.config import BenchConfig
from bench.phases import Fleet
from bench.procs import raise_fd_limit
from bench.scenarios import Harness, idle_scenario, run_scenario
from bench.tokens import BenchTokens
from bench.worker import Worker, context
from devstack.keys import ensure_keypair

__all__ = ["run"]


class RunTimeout(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise RunTimeout("the run went over --max-seconds")


def _environment(fd_limit: int) -> dict[str, Any]:
    return {
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "open_files_limit": fd_limit,
        "client": "bench.clients (raw asyncio.Protocol WebSocket client on uvloop)",
    }


def _fleet(config: BenchConfig) -> Fleet:
    delivered = context().Array("q", config.clients_procs, lock=False)
    fleet = Fleet(loadgens=[], publishers=[], delivered=delivered)
    for i in range(config.clients_procs):
        fleet.loadgens.append(Worker(f"loadgen{i}", "bench.loadgen:LoadGen", i, delivered))
    for i in range(config.publishers):
        fleet.publishers.append(Worker(f"publisher{i}", "bench.publisher:Publisher", i, delivered))
    return fleet


def run(config: BenchConfig) -> int:
    fd_limit = raise_fd_limit()
    if config.idle_sockets and fd_limit < config.idle_sockets + 1000:
        print(f"bench: open-files limit {fd_limit} is too low for {config.idle_sockets} sockets")
        config = type(config)(**{**asdict(config), "idle_sockets": 0})
    results: dict[str, Any] = {
        "config": asdict(config),
        "environment": _environment(fd_limit),
        "scenarios": [],
        "idle": [],
    }
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(config.max_run_s))
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    status = 0
    with tempfile.TemporaryDirectory(prefix="agentwire-bench-") as tmp:
        workdir = Path(tmp)
        keys = ensure_keypair(workdir / "keys")
        issuer = BenchTokens(keys.private_path, ttl_s=int(config.max_run_s) + 600)
        fleet = _fleet(config)
        harness = Harness(config, workdir, fleet, issuer, keys.public_path)
        try:
            for n_users in config.users:
                print(f"scenario: {n_users} users", flush=True)
                results["scenarios"].append(run_scenario(harness, n_users))
            if config.idle_sockets:
                print(f"scenario: {config.idle_sockets} idle sockets", flush=True)
                results["idle"].append(idle_scenario(harness, config.idle_sockets))
        except (KeyboardInterrupt, RunTimeout) as exc:
            print(f"\nbench: stopped early ({type(exc).__name__}); cleaning up", file=sys.stderr)
            results["stopped_early"] = type(exc).__name__
            status = 130 if isinstance(exc, KeyboardInterrupt) else 1
        except Exception as exc:
            traceback.print_exc()
            results["stopped_early"] = f"{type(exc).__name__}: {exc}"
            status = 1
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            harness.stop_servers()
            for worker in fleet.loadgens + fleet.publishers:
                worker.stop()
            results["logs"] = str(_keep_logs(workdir, config.results_dir / f"{stamp}-logs"))
    results["environment"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    print(report.render(results))
    path = report.save(results, config.results_dir / f"{stamp}.json")
    print(f"\nsaved {path} ({results['seconds']} s)")
    return status


def _keep_logs(workdir: Path, target: Path) -> Path:
    """The servers' logs (their last 200 kB each) beside the results."""
    target.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*.log"):
        (target / log.name).write_bytes(log.read_bytes()[-200_000:])
    return target
