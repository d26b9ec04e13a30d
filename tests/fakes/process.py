"""A fake server as a real process: started with ``python -m <module>``, which prints the port it
bound (``port N``) once it listens; stopped (terminated, then killed) whatever happens."""

from __future__ import annotations

import contextlib
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["serve"]

_ROOT = Path(__file__).resolve().parents[2]
_START_TIMEOUT_S = 15.0


@contextlib.contextmanager
def serve(module: str) -> Iterator[str]:
    """The server's URL (no path) while the block runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", module], cwd=_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        yield f"http://127.0.0.1:{_port_of(process, module)}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _port_of(process: subprocess.Popen[str], module: str) -> int:
    """The port the server prints once it listens, waiting for it at most so long."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=_START_TIMEOUT_S):
            process.kill()
            raise RuntimeError(f"{module} did not start in {_START_TIMEOUT_S} s")
    line = process.stdout.readline()
    if not line.startswith("port "):
        raise RuntimeError(f"{module} failed to start (exit {process.poll()})")
    return int(line.split()[1])
