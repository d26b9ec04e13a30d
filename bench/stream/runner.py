"""One ``./dev bench stream`` run: servers and workers up, both phases, always clean up.

The stack is the fan-out bench's: one nats-server (JetStream, the ``EVENTS`` stream exactly as
the services configure it) and one gateway process (``python -m services.ws_gateway``) that
verifies the bench's own tokens (:class:`bench.tokens.BenchTokens`); no agent, auth or tools
process runs: the publishers stand in for the agents. Everything started is stopped in
``finally`` (the gateway by process group); a watchdog (SIGALRM) cuts the run off after
``max_run_s``, and what was measured so far is still printed and saved.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from bench import report as common_report
from bench.procs import (
    REPO_ROOT,
    GatewayProcess,
    machine_cpu,
    prepare_stream,
    raise_fd_limit,
)
from bench.runs.tree import snapshot
from bench.stream import report
from bench.stream.config import StreamConfig
from bench.stream.phases import Crew, resume_phase, stream_phase
from bench.tokens import BenchTokens
from bench.worker import Worker, context
from devstack.keys import ensure_keypair
from devstack.natsd import EmbeddedNats, free_port

__all__ = ["run"]


class RunTimeout(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise RunTimeout("the run went over --max-seconds")


def _crew(config: StreamConfig) -> Crew:
    completed = context().Array("q", config.clients_procs, lock=False)
    loadgens = [
        Worker(f"loadgen{i}", "bench.stream.loadgen:StreamLoadGen", i, completed)
        for i in range(config.clients_procs)
    ]
    publishers = [
        Worker(f"publisher{i}", "bench.stream.publisher:StreamPublisher", i)
        for i in range(config.publishers)
    ]
    return Crew(loadgens, publishers, completed)


def _gateway(workdir: Path, nats: EmbeddedNats, public_key: Path, root: Path) -> GatewayProcess:
    env = {
        "JWT_PUBLIC_KEY_FILE": str(public_key),
        "NATS_URL": nats.url,
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    gateway = GatewayProcess(0, env, workdir / "gateway0.log", root).start()
    gateway.wait_ready()
    return gateway


def _measure(
    config: StreamConfig, workdir: Path, crew: Crew, results: dict[str, Any], servers: list[Any]
) -> None:
    keys = ensure_keypair(workdir / "keys")
    issuer = BenchTokens(keys.private_path, ttl_s=int(config.max_run_s) + 600)
    nats = EmbeddedNats(store_dir=workdir / "nats", log_file=workdir / "nats.log").start()
    servers.append(nats)
    asyncio.run(prepare_stream(nats.url))
    root = config.gateway_root
    if config.gateway_at:
        results["gateway_at"] = snapshot(REPO_ROOT, config.gateway_at, workdir / "tree")
        root = workdir / "tree"
    gateway = _gateway(workdir, nats, keys.public_path, root)
    servers.append(gateway)
    assert nats.process is not None
    pids = {
        "gateway": gateway.pid,
        "nats-server": nats.process.pid,
        **{w.name: w.pid for w in crew.publishers + crew.loadgens},
    }
    entries: list[list[Any]] = [[] for _ in crew.loadgens]
    for i in range(config.users):
        user = f"s{i:05d}"
        entries[i % len(entries)].append((user, issuer.issue(user), gateway.port))
    print(f"stream: {config.users} users x {config.rate:g} tokens/s for {config.seconds:g} s")
    results["stream"] = stream_phase(config, crew, entries, nats.url, pids)
    print(f"resume: one finished {config.answer_tokens:,}-token answer")
    resume_user = "r00000"
    entry = (resume_user, issuer.issue(resume_user), gateway.port)
    results["resume"] = resume_phase(config, crew, entry, nats.url)


def run(config: StreamConfig) -> int:
    fd_limit = raise_fd_limit()
    results: dict[str, Any] = {
        "config": asdict(config),
        "environment": {
            "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
            "open_files_limit": fd_limit,
        },
    }
    results["environment"]["machine_busy_before_pct"] = _machine_busy(2.0)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(config.max_run_s))
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    status = 0
    servers: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="agentwire-bench-stream-") as tmp:
        workdir = Path(tmp)
        crew = _crew(config)
        try:
            _measure(config, workdir, crew, results, servers)
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
            crew.stop()  # first: the publishers close their NATS connections themselves
            for server in reversed(servers):
                server.stop()
                if isinstance(server, GatewayProcess):
                    _close_output(server)
            results["logs"] = str(_keep_logs(workdir, config.results_dir / f"stream-{stamp}-logs"))
    results["environment"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = round(time.monotonic() - started, 1)
    print(report.render(results))
    path = common_report.save(results, config.results_dir / f"stream-{stamp}.json")
    print(f"\nsaved {path} ({results['seconds']} s)")
    if status == 0 and not report.correct(results):
        status = 1
    return status


def _machine_busy(seconds: float) -> float:
    """CPU% of the whole machine (100 per core) over ``seconds`` before anything starts: what
    other programs take from the run."""
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    cores = len(os.sched_getaffinity(0))
    return round(100 * cores * (busy1 - busy0) / max(1e-9, total1 - total0), 1)


def _close_output(gateway: GatewayProcess) -> None:
    """Close the stopped gateway's output pipe once its reader thread has read it to the end
    (``bench.procs`` leaves it to the garbage collector, which warns)."""
    for thread in threading.enumerate():
        if thread.name == f"gw{gateway.index}-out":
            thread.join(5.0)
    if gateway.process is not None and gateway.process.stdout is not None:
        gateway.process.stdout.close()


def _keep_logs(workdir: Path, target: Path) -> Path:
    """The servers' logs (their last 200 kB each) beside the results."""
    target.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*.log"):
        (target / log.name).write_bytes(log.read_bytes()[-200_000:])
    return target
