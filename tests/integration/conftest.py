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
