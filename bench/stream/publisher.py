"""A publisher process that streams answers the way the agent does.

Per user, one run: ``agent_started``, then a :class:`~shared.streaming.MessageWriter` (the real
coalescing: the first piece at once, then at most one ``message_delta`` per 40 ms) over the real
:class:`~shared.bus.EventPublisher` (each event stored in JetStream and acknowledged, with a
``Nats-Msg-Id``), tokens written at a fixed rate, then ``agent_completed`` with the same
``message_id`` and the whole text. One ticker hands every user's due tokens over (a task that
sleeps per token and per user would cost more than the writers), each stamped with the moment it
is handed over (:func:`bench.stream.stamps.stamp_token`); users' schedules are spread evenly over
one token interval.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.stats import LatencyHistogram
from bench.stream.stamps import answer_tokens, latency_summary, stamp_token, tokens_due
from shared.bus import EventPublisher, connect
from shared.settings import NatsSettings
from shared.streaming import MessageWriter
from shared.wire.events import (
    AgentCompleted,
    AgentCompletedData,
    AgentStarted,
    AgentStartedData,
    AnyEvent,
    encode_event,
)

__all__ = ["StreamPublisher", "run_ids"]

_AGENT = "bench-agent"
_TICK_S = 0.004


def run_ids(user: str, n: int = 0) -> dict[str, str]:
    return {"run_id": f"run-{user}-{n}", "thread_id": f"thread-{user}", "message_id": f"msg-{user}"}


@dataclass
class _Answer:
    user: str
    start: float  # wall clock of its first token
    writer: MessageWriter
    publish: Any  # the counting publish the writer uses, for the completing event too
    written: int = 0
    failed: str | None = None
    stored: list[tuple[str, int, int]] = field(default_factory=list)  # (type, seq, frame bytes)


class StreamPublisher:
    def __init__(self, index: int) -> None:
        self._index = index
        self._bus: EventPublisher | None = None
        self._nc: Any = None
        self.published: Counter[str] = Counter()

    async def _publisher(self, url: str) -> EventPublisher:
        if self._bus is None:
            self._nc = await connect(NatsSettings(url=url), f"bench-stream-{self._index}")
            self._bus = EventPublisher(self._nc.jetstream(), max_payload=self._nc.max_payload)
        return self._bus

    async def _begin(
        self, bus: EventPublisher, user: str, start: float, keep: bool = False
    ) -> _Answer:
        """``agent_started`` and ``message_started``: the run is under way, no token yet."""
        ids = run_ids(user)
        stored: list[tuple[str, int, int]] = []

        async def publish(event: AnyEvent) -> int:
            seq = await bus.publish(user, event)
            kind = str(event.__struct_config__.tag)
            self.published[kind] += 1
            if keep:  # the frame the gateway makes of it: the payload with "seq":N, spliced in
                stored.append((kind, seq, len(encode_event(event)) + len(f'"seq":{seq},')))
            return seq

        writer = MessageWriter(
            publish,
            run_id=ids["run_id"],
            thread_id=ids["thread_id"],
            agent_id=_AGENT,
            kind="answer",
            message_id=ids["message_id"],
        )
        answer = _Answer(user, start, writer, publish, stored=stored)
        started = AgentStartedData(agent_id=_AGENT, message="stream an answer")
        await publish(AgentStarted(run_id=ids["run_id"], thread_id=ids["thread_id"], data=started))
        await writer.start()
        return answer

    async def _end(self, answer: _Answer) -> None:
        """Every delta stored, then ``agent_completed`` naming the message, with the whole text."""
        ids = run_ids(answer.user)
        try:
            text = await answer.writer.finish()
            data = AgentCompletedData(agent_id=_AGENT, result=text, message_id=ids["message_id"])
            event = AgentCompleted(run_id=ids["run_id"], thread_id=ids["thread_id"], data=data)
            await answer.publish(event)
        except Exception as exc:
            answer.failed = answer.failed or f"{type(exc).__name__}: {exc}"
        finally:
            await answer.writer.close()

    async def stream(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Every user of ``plan`` streams stamped tokens at ``rate`` from ``start_at`` for
        ``seconds``; then each answer is completed. Returns counts, CPU and hand-over lag."""
        bus = await self._publisher(plan["url"])
        rate: float = plan["rate"]
        start_at: float = plan["start_at"]
        end = start_at + plan["seconds"]
        self.published.clear()
        answers = await asyncio.gather(
            *(self._begin(bus, user, start_at + offset) for user, offset in plan["users"])
        )
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0 = os.times()
        lag = LatencyHistogram()  # per tick, its most overdue token: is this process keeping up?
        handed = 0
        while (now := time.time()) < end:
            oldest = now
            token = stamp_token(now)  # every token handed over in this tick is handed over now
            for answer in answers:
                due = tokens_due(now - answer.start, rate)
                if answer.written >= due or answer.failed is not None:
                    continue
                oldest = min(oldest, answer.start + answer.written / rate)
                try:
                    for _ in range(due - answer.written):
                        answer.writer.write(token)
                except Exception as exc:  # the pump's failed publish, raised here
                    answer.failed = f"{type(exc).__name__}: {exc}"
                    continue
                handed += due - answer.written
                answer.written = due
            lag.add(now - oldest)
            await asyncio.sleep(_TICK_S)
        await asyncio.gather(*(self._end(answer) for answer in answers))
        cpu1 = os.times()
        failures = Counter(a.failed for a in answers if a.failed)
        return {
            "users": len(answers),
            "tokens_handed": handed,
            "published": dict(self.published),
            "failed_answers": sum(failures.values()),
            "failures": dict(failures.most_common(3)),
            "handover_lag": latency_summary(lag),
            "cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 2),
        }

    async def answer(self, plan: dict[str, Any]) -> dict[str, Any]:
        """One user's answer of ``tokens`` ordinary tokens at ``rate``, finished; what was
        stored (the resume scenario's reference)."""
        bus = await self._publisher(plan["url"])
        rate: float = plan["rate"]
        tokens = answer_tokens(plan["tokens"])
        answer = await self._begin(bus, plan["user"], time.time() + 0.05, keep=True)
        for i, token in enumerate(tokens):
            await asyncio.sleep(max(0.0, answer.start + i / rate - time.time()))
            answer.writer.write(token)
        await self._end(answer)
        if answer.failed:
            raise RuntimeError(f"the answer failed: {answer.failed}")
        text = "".join(tokens)
        first_seq = answer.stored[0][1]
        return {
            "text": text,
            "answer_bytes": len(text.encode()),
            "after_seq": first_seq - 1,
            "last_seq": answer.stored[-1][1],
            "stored": answer.stored,
        }

    async def aclose(self) -> None:
        if self._nc is not None:
            await self._nc.close()
