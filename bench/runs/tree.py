"""``--at REV``: the whole run against the code of one commit, whatever the working tree holds.

The services, ``shared/`` and ``devstack/`` (the stack's NATS permissions and how it starts the
processes belong with the services they start) are taken from ``git archive REV`` into a
temporary directory, this bench's own ``bench/`` is copied beside them, and the run is started
there as a child process, so everything it imports and starts comes from that tree. Results go
to the usual ``bench/results``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench.procs import REPO_ROOT
from bench.runs.config import RunsConfig

__all__ = ["run_at", "snapshot", "without_at"]

_TREES = ("services", "shared", "devstack")


def snapshot(repo: Path, rev: str, target: Path) -> str:
    """``services/``, ``shared/`` and ``devstack/`` of ``rev`` under ``target``; its short hash."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, *_TREES], cwd=repo, capture_output=True, check=True
    ).stdout
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    done = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def without_at(argv: list[str]) -> list[str]:
    """``argv`` minus ``--at REV`` / ``--at=REV``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--at":
            skip = True
        elif not arg.startswith("--at="):
            out.append(arg)
    return out


def run_at(config: RunsConfig, argv: list[str]) -> int:
    assert config.at is not None
    with tempfile.TemporaryDirectory(prefix="agentwire-bench-tree-") as tmp:
        tree = Path(tmp)
        commit = snapshot(REPO_ROOT, config.at, tree)
        shutil.copytree(
            REPO_ROOT / "bench",
            tree / "bench",
            ignore=shutil.ignore_patterns("results", "__pycache__"),
        )
        args = [*without_at(argv), "--results-dir", str(config.results_dir.resolve())]
        print(f"bench: running against {config.at} ({commit}) from {tree}", flush=True)
        child = subprocess.Popen(
            [sys.executable, "-m", "bench", "runs", *args, "--commit", commit], cwd=tree
        )
        try:
            return child.wait()
        except KeyboardInterrupt:  # the child got it too, and cleans up after itself
            return child.wait()
