"""The intake's pull loop outlives whatever a pull raises: it is the only way work comes in."""

from __future__ import annotations

import asyncio
from typing import Any

from services.agent.intake import IntakeConsumer
from services.agent.tasks import Slots


class Pulls:
    """A pull subscription whose fetches fail in every way nats-py's can, then wait quietly."""

    def __init__(self) -> None:
        self.fetches = 0
        self.failures: list[BaseException] = [
            TimeoutError(),  # nats-py 2.16 raises the plain one when racing the server's expiry
            ConnectionError("reconnecting"),
            RuntimeError("something nobody foresaw"),
        ]

    async def fetch(self, batch: int, timeout: float) -> list[Any]:  # noqa: ASYNC109 (nats-py's)
        self.fetches += 1
        if self.failures:
            raise self.failures.pop(0)
        await asyncio.sleep(timeout)
        raise TimeoutError


class Host:
    slots = Slots(4)
    stopping = False


async def test_the_pull_loop_survives_every_failure_of_a_pull() -> None:
    consumer = IntakeConsumer(
        None,  # type: ignore[arg-type]
        ledger=None,  # type: ignore[arg-type]
        tasks=Host(),  # type: ignore[arg-type]
        closer=None,  # type: ignore[arg-type]
        queue=None,  # type: ignore[arg-type]
        ack_wait_s=10,
        max_deliver=5,
    )
    pulls = consumer._sub = Pulls()
    loop = asyncio.create_task(consumer._pull())

    for _ in range(300):
        if pulls.fetches >= 4:
            break
        await asyncio.sleep(0.01)

    assert pulls.fetches >= 4 and not loop.done()  # still pulling after all three failures
    loop.cancel()
