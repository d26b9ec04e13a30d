"""shared.logging: LOG_FORMAT=json lines carry the ids bound to the context, never secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from shared import logging as shared_logging


@pytest.fixture
def json_lines():  # type: ignore[no-untyped-def]
    """The JSON lines logged during the test (the handler configure("...", fmt="json") uses)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(shared_logging.JsonFormatter("agent"))
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO

    def read() -> list[dict[str, object]]:
        return [json.loads(line) for line in out.getvalue().splitlines()]

    yield read
    root.removeHandler(handler)
    root.setLevel(level)


async def test_a_json_line_carries_service_level_message_and_the_runs_ids(json_lines) -> None:  # type: ignore[no-untyped-def]
    log = logging.getLogger("services.agent.test")

    async def run() -> None:
        with shared_logging.bound(run_id="r1", user_id="u1"):
            await asyncio.create_task(asyncio.sleep(0))  # a task started inside inherits them
            log.info("run %s ended", "r1")

    await run()
    log.warning("outside any run")

    inside, outside = json_lines()
    assert inside | {"time": None} == {
        "time": None,
        "level": "INFO",
        "service": "agent",
        "logger": "services.agent.test",
        "message": "run r1 ended",
        "run_id": "r1",
        "user_id": "u1",
    }
    assert "run_id" not in outside and outside["level"] == "WARNING"


def test_a_secret_bound_by_mistake_is_masked(json_lines) -> None:  # type: ignore[no-untyped-def]
    with shared_logging.bound(run_id="r1", access_token="eyJhbGciOi"):
        logging.getLogger("x").info("hello")
    (line,) = json_lines()
    assert line["access_token"] == "***" and "eyJhbGciOi" not in json.dumps(line)
