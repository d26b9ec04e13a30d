"""The whole stack as real processes: one stack per test module, on its own nats-server with one
NATS user per service, so every end-to-end test runs under the production permission table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack


class LogSink:
    """Keeps each service's output in a file, so a failing test can show what happened."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, name: str, line: str) -> None:
        with open(self.directory / f"{name}.log", "a") as out:
            out.write(line + "\n")


def running_stack(
    tmp_path_factory: pytest.TempPathFactory, name: str, **env: str
) -> Iterator[Stack]:
    """A module's stack (yield from it in a fixture): quiet runs by default (no think delay,
    every text in one delta), ``env`` on top; stopped whatever happens."""
    data_dir = tmp_path_factory.mktemp(name)
    extra = {"THINK_DELAY_S": "0", "STREAM_TOKENS_PER_S": "0", "LOG_LEVEL": "INFO", **env}
    running = Stack(data_dir=data_dir, sink=LogSink(data_dir), extra_env=extra)
    try:
        running.start(timeout_s=60)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("stack")
    running = Stack(
        data_dir=data_dir,
        sink=LogSink(data_dir),
        # Streamed text typed at once (one delta per message): these tests are about runs.
        extra_env={"THINK_DELAY_S": "0.01", "STREAM_TOKENS_PER_S": "0", "LOG_LEVEL": "INFO"},
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()
