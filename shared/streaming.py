"""Publishing streamed text and tool progress at a bounded rate, whatever the producer's rate.

An LLM hands over tokens as fast as it makes them (hundreds a second); each event stored costs a
JetStream write and a frame to every socket of the user. So publishers coalesce: a
:class:`MessageWriter` publishes ``message_started`` at once, then the text written to it as
``message_delta`` events at most once per ``interval_s`` (40 ms by default): the first piece goes
out at once (no added latency for a slow producer), whatever arrives while a delta is being
stored or within the interval goes out together in the next one. A :class:`ProgressReporter`
does the same for a tool's progress, keeping only the newest report (100 ms by default).

Order: one background task per writer publishes, one event at a time; :meth:`MessageWriter.finish`
sends what is held back at once (without waiting the interval out) and returns only once every
delta is stored, so the completing event (``agent_thinking`` or
``agent_completed`` with the same ``message_id``) that the caller publishes next comes after them.
The deltas joined are exactly the text written. A failed publish is raised by the next ``write``
or by ``finish``; :meth:`close` (or leaving the ``async with``) stops the task in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from shared.wire.events import (
    AnyEvent,
    MessageDelta,
    MessageDeltaData,
    MessageKind,
    MessageStarted,
    MessageStartedData,
    ToolProgress,
    ToolProgressData,
)

__all__ = [
    "DEFAULT_DELTA_INTERVAL_S",
    "DEFAULT_PROGRESS_INTERVAL_S",
    "MessageWriter",
    "ProgressReporter",
    "Publish",
]

DEFAULT_DELTA_INTERVAL_S = 0.040
DEFAULT_PROGRESS_INTERVAL_S = 0.100

Publish = Callable[[AnyEvent], Awaitable[Any]]

log = logging.getLogger(__name__)


class _Pump:
    """Calls ``flush()`` whenever there is something to send, at most once per interval."""

    def __init__(self, flush: Callable[[], Awaitable[None]], interval_s: float) -> None:
        self._flush = flush
        self._interval_s = interval_s
        self._wake = asyncio.Event()
        self._finishing = asyncio.Event()  # drain: send the rest now, without the interval
        self._closing = False
        self._last = -float("inf")
        self._task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    def poke(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self._closing:
            raise RuntimeError("written to after finish() or close()")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="stream-pump")
        self._wake.set()

    async def drain(self) -> None:
        """Send what is pending now, then stop; raises what a flush raised."""
        self._closing = True
        self._finishing.set()
        if self._task is not None:
            self._wake.set()
            await asyncio.shield(self._task)
        if self.failure is not None:
            raise self.failure

    async def stop(self) -> None:
        """Stop at once; what is pending is dropped. Returns once the task is over, so nothing
        it sends can follow what the caller publishes next; a cancel of the caller itself while
        it waits is not swallowed (``asyncio.wait`` does not raise the task's cancellation)."""
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                wait = self._last + self._interval_s - loop.time()
                if wait > 0 and not self._closing:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._finishing.wait(), wait)
                self._last = loop.time()
                await self._flush()
                if self._closing and not self._wake.is_set():
                    return
        except Exception as exc:  # raised to the producer by its next call
            self.failure = exc


class MessageWriter:
    """One streamed message (a thought or the answer) of one run.

    ::

        async with MessageWriter(publish, run_id=..., thread_id=..., agent_id=...,
                                 kind="answer", message_id=...) as answer:
            async for token in model_stream:
                answer.write(token)
            text = await answer.finish()
        # then publish agent_completed(result=text, message_id=answer.message_id)
    """

    def __init__(
        self,
        publish: Publish,
        *,
        run_id: str,
        thread_id: str,
        agent_id: str,
        kind: MessageKind,
        message_id: str,
        interval_s: float = DEFAULT_DELTA_INTERVAL_S,
    ) -> None:
        self._publish = publish
        self._ids = {"run_id": run_id, "thread_id": thread_id}
        self._agent_id = agent_id
        self.kind: MessageKind = kind
        self.message_id = message_id
        self._pending: list[str] = []
        self._written: list[str] = []
        self._pump = _Pump(self._send, interval_s)
        self._started = False

    @property
    def text(self) -> str:
        """Everything written so far."""
        return "".join(self._written)

    async def start(self) -> None:
        """Publish ``message_started`` (done by ``async with`` too)."""
        if not self._started:
            self._started = True
            data = MessageStartedData(
                message_id=self.message_id, kind=self.kind, agent_id=self._agent_id
            )
            await self._publish(MessageStarted(**self._ids, data=data))

    def write(self, delta: str) -> None:
        """Queue ``delta`` for the next coalesced ``message_delta``; never blocks."""
        if not self._started:
            raise RuntimeError("write() before start(): use `async with` or await start()")
        if delta:
            self._pending.append(delta)
            self._written.append(delta)
            self._pump.poke()

    async def finish(self) -> str:
        """Store every pending delta; the whole text (publish the completing event next)."""
        await self._pump.drain()
        return self.text

    async def close(self) -> None:
        await self._pump.stop()

    async def __aenter__(self) -> MessageWriter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send(self) -> None:
        if not self._pending:
            return
        delta = "".join(self._pending)
        self._pending.clear()
        data = MessageDeltaData(message_id=self.message_id, delta=delta)
        await self._publish(MessageDelta(**self._ids, data=data))


class ProgressReporter:
    """A running tool's progress: the newest report is published, at most once per interval.

    Call :meth:`close` before publishing the tool's ``tool_completed``: what was not sent is
    dropped, and a publish already under way went out first on the same connection (NATS keeps
    one connection's order), so no progress follows the tool's end.

    Unlike a message's text, progress is advice: :meth:`report` never raises into the tool. A
    failed publish is logged and ends the reports; the tool goes on, and its ``tool_completed``
    still says how it ended.
    """

    def __init__(
        self,
        publish: Publish,
        *,
        run_id: str,
        thread_id: str,
        tool_call_id: str,
        tool_name: str,
        interval_s: float = DEFAULT_PROGRESS_INTERVAL_S,
    ) -> None:
        self._publish = publish
        self._ids = {"run_id": run_id, "thread_id": thread_id}
        self._call = {"tool_call_id": tool_call_id, "tool_name": tool_name}
        self._newest: ToolProgressData | None = None
        self._pump = _Pump(self._send, interval_s)

    def report(self, fraction: float | None = None, message: str | None = None) -> None:
        """The tool's progress now: ``fraction`` done in 0..1 (clamped; None: it cannot tell),
        ``message`` for people."""
        if self._pump.closing or self._pump.failure is not None:
            return
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._newest = ToolProgressData(**self._call, progress=fraction, message=message)
        self._pump.poke()

    async def close(self) -> None:
        await self._pump.stop()
        if self._pump.failure is not None:
            log.warning(
                "progress of tool call %s not published: %r",
                self._call["tool_call_id"],
                self._pump.failure,
            )

    async def _send(self) -> None:
        newest, self._newest = self._newest, None
        if newest is not None:
            await self._publish(ToolProgress(**self._ids, data=newest))
