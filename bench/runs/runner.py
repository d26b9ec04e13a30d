"""One ``./dev bench runs``: a fresh stack per agent-process count, each through the same phases.

Per series: start the stack (THINK_DELAY_S=0 by default), start the load generators, open one
socket per user, then the burst, then the open-loop rates in turn until one saturates. Everything
started is stopped in ``finally`` blocks (load generators, then the stack: services, then
nats-server); a watchdog (SIGALRM) cuts the run off after ``max_run_s``, and Ctrl-C stops it too.
Results gathered so far are still printed and saved.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from bench.procs import raise_fd_limit
from bench.runs import report
from bench.runs.config import RunsConfig
from bench.runs.phases import Series, burst_phase, rate_phase
from bench.runs.stack import StackUnderTest
from bench.worker import Worker, WorkerError

__all__ = ["run"]


class RunTimeout(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise RunTimeout("the run went over --max-seconds")


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def _environment(config: RunsConfig) -> dict[str, Any]:
    dirty = _git(config.root, "status", "--porcelain", "--", "services", "shared")
    return {
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "commit": config.commit or _git(config.root, "rev-parse", "--short", "HEAD") or "?",
        "services_changed_since_commit": len(dirty.splitlines()) if dirty else 0,
        "services_from": str(config.root),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _service_env(config: RunsConfig) -> dict[str, str]:
    return {
        "THINK_DELAY_S": str(config.think_delay_s),
        "STREAM_TOKENS_PER_S": "0",  # each text in one delta: the bench measures runs, not typing
        "LOG_LEVEL": config.log_level,
    }


def run_series(config: RunsConfig, workdir: Path, agents: int, out: dict[str, Any]) -> None:
    """One stack with ``agents`` agent processes through every phase; fills ``out`` as it goes."""
    stack = StackUnderTest(
        workdir / f"stack-{agents}agents",
        agents,
        _service_env(config),
        config.root,
        token_ttl_s=int(config.max_run_s) + 600,
    )
    loadgens: list[Worker] = []
    try:
        stack.start()
        loadgens = [
            Worker(f"loadgen{i}", "bench.runs.loadgen:RunsLoadGen", i)
            for i in range(config.clients_procs)
        ]
        pids = {**stack.pids(), **{w.name: w.pid for w in loadgens}, "bench": os.getpid()}
        series = Series(loadgens, pids, stack.agent_names(), stack.operator_url)
        out["connect"] = _connect(config, stack, loadgens)
        print(f"  {out['connect']['opened']} sockets open", flush=True)
        _phases(config, series, agents, out)
    finally:
        for worker in loadgens:
            try:
                worker.call("close_all", timeout_s=20)
            except (WorkerError, TimeoutError, RuntimeError):
                pass
            worker.stop()
        stack.stop()


def _connect(config: RunsConfig, stack: StackUnderTest, loadgens: list[Worker]) -> dict[str, Any]:
    """One socket per user, the users dealt round robin to the load generators."""
    users = [f"u{i:05d}" for i in range(config.users)]
    entries: list[list[tuple[str, str, int]]] = [[] for _ in loadgens]
    for i, (user, token) in enumerate(zip(users, stack.tokens(users), strict=True)):
        entries[i % len(loadgens)].append((user, token, stack.gateway_port))
    for worker, mine in zip(loadgens, entries, strict=True):
        worker.send("connect", mine, config.message, config.connect_concurrency, 20.0)
    connected = [worker.result(120.0) for worker in loadgens]
    return {
        "opened": sum(c["opened"] for c in connected),
        "failed": sum(c["failed"] for c in connected),
        "errors": [e for c in connected for e in c["errors"]],
        "seconds": max(c["seconds"] for c in connected),
    }


def _phases(config: RunsConfig, series: Series, agents: int, out: dict[str, Any]) -> None:
    """The burst (if this series has one), then each rate until one saturates."""
    if config.burst and (config.burst_every_series or agents == config.agents[0]):
        print(f"  burst: {config.users} messages at once ...", flush=True)
        name = f"burst-{agents}a"
        out["burst"] = burst_phase(series, name, config.burst_timeout_s, config.quiet_s)
        print(f"    {report.phase_line(out['burst'])}", flush=True)
    for rate in config.rates:
        print(f"  open loop: {rate:g} runs/s ...", flush=True)
        phase = rate_phase(
            series,
            f"rate{rate:g}-{agents}a",
            rate,
            config.warmup_s,
            config.phase_s,
            config.drain_s,
            config.quiet_s,
        )
        out["rates"].append(phase)
        print(f"    {report.phase_line(phase)}", flush=True)
        if phase["saturated"]:
            break


def run(config: RunsConfig) -> int:
    raise_fd_limit()
    results: dict[str, Any] = {
        "config": asdict(config),
        "environment": _environment(config),
        "series": [],
    }
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(config.max_run_s))
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    status = 0
    with tempfile.TemporaryDirectory(prefix="agentwire-bench-runs-") as tmp:
        workdir = Path(tmp)
        try:
            for agents in config.agents:
                print(f"series: {agents} agent process(es), {config.users} users", flush=True)
                out: dict[str, Any] = {"agents": agents, "rates": []}
                results["series"].append(out)
                run_series(config, workdir, agents, out)
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
            results["logs"] = str(_keep_logs(workdir, config.results_dir / f"runs-{stamp}-logs"))
    results["environment"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    print(report.render(results))
    path = report.save(results, config.results_dir / f"runs-{stamp}.json")
    print(f"\nsaved {path} ({results['seconds']} s)")
    return status


def _keep_logs(workdir: Path, target: Path) -> Path:
    """Every process's log (its last 200 kB) beside the results."""
    target.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*/*.log"):
        (target / f"{log.parent.name}-{log.name}").write_bytes(log.read_bytes()[-200_000:])
    return target
