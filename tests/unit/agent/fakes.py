"""In-memory stand-ins for the agent's seams: the event stream, the tools, the run ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.agent.ledger import StoredCall
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.repository import StoredRun
from services.agent.toolclient import ToolCallError
from shared.errors import EventTooLarge, PublishFailed
from shared.wire.events import STREAM_TYPES, AnyEvent, MessageDelta
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded
from tests.unit.agent.test_planner import DEFAULT_RESULTS

__all__ = ["Ledger", "Stream", "Tools", "tag"]


def tag(event: AnyEvent) -> str:
    return str(type(event).__struct_config__.tag)


@dataclass
class Stream:
    """The event log, with JetStream's duplicate detection on the message id."""

    events: list[AnyEvent] = field(default_factory=list)
    msg_ids: list[str | None] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # event types to fail with PublishFailed
    too_large: set[str] = field(default_factory=set)  # event types over the log's size limit

    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int:
        if tag(event) in self.refuse:
            raise PublishFailed("stream unavailable")
        if tag(event) in self.too_large:
            raise EventTooLarge(f"the agent produced a {tag(event)} event of 9,000,000 bytes")
        if msg_id is not None and msg_id in self.msg_ids:
            return self.msg_ids.index(msg_id) + 1  # a duplicate: stored once
        self.events.append(event)
        self.msg_ids.append(msg_id)
        return len(self.events)

    @property
    def types(self) -> list[str]:
        return [tag(e) for e in self.events]

    @property
    def whole(self) -> list[str]:
        """The types a socket without streamed text sees (no message_started, deltas, progress)."""
        return [kind for kind in self.types if kind not in STREAM_TYPES]

    def text_of(self, message_id: str) -> str:
        """A streamed message's deltas, joined."""
        return "".join(
            e.data.delta
            for e in self.events
            if isinstance(e, MessageDelta) and e.data.message_id == message_id
        )


@dataclass
class Tools:
    """Answers from canned results; ``errors`` raise; ``hang`` never answers (after starting)."""

    results: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_RESULTS))
    errors: dict[str, ToolCallError] = field(default_factory=dict)
    hang: bool = False
    held: set[str] = field(default_factory=set)  # calls a "runner" still holds, for cancel()
    calls: list[ToolCallRequest] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(
        self,
        request: ToolCallRequest,
        on_stage: Callable[[CallStage], Awaitable[None]] | None = None,
    ) -> ToolCallSucceeded:
        self.calls.append(request)
        if on_stage is not None:
            await on_stage(CallStage.RUNNING)
        self.called.set()
        if self.hang:
            await asyncio.Event().wait()
        if request.tool_name in self.errors:
            raise self.errors[request.tool_name]
        return ToolCallSucceeded(result=self.results[request.tool_name], duration_ms=1.0)

    async def cancel(self, tool_call_id: str) -> bool:
        self.cancelled.append(tool_call_id)
        return tool_call_id in self.held


@dataclass
class Ledger:
    """The run ledger for one owner, in memory."""

    owner: str = "me"
    runs: dict[str, StoredRun] = field(default_factory=dict)
    calls: dict[str, StoredCall] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    def add(self, run_id: str = "0123456789abcdef", **fields: Any) -> StoredRun:
        defaults: dict[str, Any] = {
            "thread_id": "t1",
            "user_id": "u1",
            "status": RunStatus.RUNNING,
            "content": "latency",
            "created_at": time.time(),
            "owner": self.owner,
        }
        run = self.runs[run_id] = StoredRun(id=run_id, **{**defaults, **fields})
        return run

    def _set(self, run_id: str, **fields: Any) -> None:
        self.runs[run_id] = dataclasses.replace(self.runs[run_id], **fields)

    async def get_run(self, run_id: str) -> StoredRun | None:
        return self.runs.get(run_id)

    async def finish(
        self,
        run_id: str,
        ending: Ending,
        *,
        started: bool = False,
        calls_done: bool = False,
        first_seq: int | None = None,
    ) -> StoredRun | None:
        run = self.runs.get(run_id)
        if run is None or run.status is not RunStatus.RUNNING or run.owner != self.owner:
            return None
        if run.cancel_requested:  # a recorded cancel wins, as in RunLedger.finish
            ending = Ending.cancelled()
        self._set(
            run_id,
            status=ending.status,
            result=ending.result,
            error_code=ending.error_code,
            error_message=ending.error_message,
            finished_at=time.time(),
        )
        if started and self.runs[run_id].started_at is None:
            self._set(run_id, started_at=time.time())
        if started and self.runs[run_id].first_seq is None:
            self._set(run_id, first_seq=first_seq)
        return self.runs[run_id]

    async def announce_and_next(
        self, run_id: str, thread_id: str, *, last_seq: int | None = None
    ) -> None:
        await self.mark_announced(run_id, last_seq=last_seq)

    async def fail_announced_as(self, run_id: str, code: str, message: str) -> None:
        self._set(
            run_id, status=RunStatus.FAILED, result=None, error_code=code, error_message=message
        )

    async def mark_started(self, run_id: str, *, first_seq: int | None = None) -> None:
        self.started.append(run_id)
        if run_id in self.runs and self.runs[run_id].started_at is None:
            self._set(run_id, started_at=time.time(), first_seq=first_seq)

    async def mark_announced(self, run_id: str, *, last_seq: int | None = None) -> None:
        self._set(run_id, announced=True, last_seq=last_seq)

    async def open_call(
        self,
        call_id: str,
        run_id: str,
        tool_name: str,
        parameters: dict[str, Any],
        *,
        started: bool = False,
        first_seq: int | None = None,
    ) -> None:
        if started:
            await self.mark_started(run_id, first_seq=first_seq)
        self.calls[call_id] = StoredCall(call_id, run_id, tool_name, parameters=parameters)

    async def call_stage(self, call_id: str, stage: CallStage) -> None:
        self.calls[call_id] = dataclasses.replace(self.calls[call_id], stage=stage)

    async def close_call(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    async def open_calls(self, run_id: str) -> list[StoredCall]:
        return [call for call in self.calls.values() if call.run_id == run_id]
