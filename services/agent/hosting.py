"""What the run host lends an SDK agent: its events, its tool calls, and the record of both.

:class:`HostBackend` is the :class:`agentwire_sdk.context.RunBackend` of one run. Every publish
is fenced by the run's lease (:class:`~services.agent.control.RunHandle`): a run whose lease may
have lapsed publishes nothing more, since a sweeper may already be announcing its end. A tool
call is recorded before it goes out (whoever ends the run can then stop it), goes to the tool
runner (which publishes the call's two events), and is closed when answered; its result is kept
for the run's ``steps``, what later runs of the thread are told of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from agentwire_sdk import ToolCallRecord, ToolFailed, ToolSpec
from services.agent.control import RunHandle
from services.agent.models import CallStage
from services.agent.toolclient import ToolCallError
from shared.wire.events import AnyEvent
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded

__all__ = ["Catalog", "HostBackend", "RunIds", "decode_steps", "encode_steps"]

# A step's result as later runs are told of it: enough to go on, never a whole data dump.
STEP_RESULT_CHARS = 4_000


class EventSink(Protocol):
    async def publish(self, user_id: str, event: AnyEvent, *, msg_id: str | None = None) -> int: ...


class ToolCaller(Protocol):
    async def call(self, request: ToolCallRequest, on_stage: Any = None) -> ToolCallSucceeded: ...


class RunBook(Protocol):
    async def open_call(
        self,
        call_id: str,
        run_id: str,
        tool_name: str,
        parameters: dict[str, Any],
        *,
        started: bool = False,
        first_seq: int | None = None,
    ) -> None: ...
    async def call_stage(self, call_id: str, stage: CallStage) -> None: ...
    async def close_call(self, call_id: str) -> None: ...


class _Spec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def parameters(self) -> dict[str, Any]: ...


class Catalog(Protocol):
    async def tools(self) -> Sequence[_Spec]: ...


@dataclass(frozen=True, slots=True)
class RunIds:
    run_id: str
    thread_id: str
    user_id: str


@dataclass(eq=False)
class HostBackend:
    ids: RunIds
    handle: RunHandle
    events: EventSink
    tool_caller: ToolCaller
    book: RunBook
    catalog: Catalog | None = None
    steps: list[ToolCallRecord] = field(default_factory=list)
    fenced: bool = False  # the agent ignored a stop: nothing it does may reach the user

    async def publish(self, event: AnyEvent, msg_id: str | None = None) -> int:
        self._check()
        return await self.events.publish(self.ids.user_id, event, msg_id=msg_id)

    async def tools(self) -> list[ToolSpec]:
        if self.catalog is None:
            return []
        return [ToolSpec(t.name, t.description, t.parameters) for t in await self.catalog.tools()]

    async def call_tool(self, name: str, parameters: dict[str, Any], tool_call_id: str) -> Any:
        ids, handle = self.ids, self.handle
        request = ToolCallRequest(
            user_id=ids.user_id,
            run_id=ids.run_id,
            thread_id=ids.thread_id,
            tool_call_id=tool_call_id or uuid.uuid4().hex,
            tool_name=name,
            parameters=parameters,
        )
        call_id = request.tool_call_id
        self._check()  # the tool runner publishes for this run: the same fence as ours
        first = not handle.started_recorded
        await self.book.open_call(
            call_id,
            ids.run_id,
            name,
            parameters,
            started=first,
            first_seq=handle.first_seq if first else None,
        )
        handle.started_recorded = True
        handle.open_calls += 1
        try:
            reply = await self.tool_caller.call(
                request, lambda stage: self.book.call_stage(call_id, stage)
            )
        except ToolCallError as exc:
            if exc.answered:
                await self._close(call_id)
            # An unanswered call stays open: ending the run settles it.
            self.steps.append(ToolCallRecord(name, parameters, error=f"{exc.code}: {exc.message}"))
            raise ToolFailed(name, str(exc.code), exc.message) from None
        await self._close(call_id)
        self.steps.append(ToolCallRecord(name, parameters, result=_for_history(reply.result)))
        return reply.result

    async def _close(self, call_id: str) -> None:
        await self.book.close_call(call_id)
        self.handle.open_calls -= 1

    def _check(self) -> None:
        if self.fenced:
            self.handle.fence()
        self.handle.check_lease()


def _for_history(result: Any) -> Any:
    text = msgspec.json.encode(result)
    if len(text) <= STEP_RESULT_CHARS:
        return result
    return text[:STEP_RESULT_CHARS].decode(errors="ignore") + " ... (cut short)"


class _Step(msgspec.Struct, omit_defaults=True):
    name: str
    parameters: dict[str, Any]
    result: Any = None
    error: str | None = None


def encode_steps(steps: list[ToolCallRecord]) -> str | None:
    if not steps:
        return None
    encoded = [_Step(s.name, s.parameters, s.result, s.error) for s in steps]
    return msgspec.json.encode(encoded).decode()


def decode_steps(text: str | None) -> tuple[ToolCallRecord, ...]:
    if not text:
        return ()
    try:
        steps = msgspec.json.decode(text, type=list[_Step])
    except msgspec.DecodeError:
        return ()
    return tuple(ToolCallRecord(s.name, s.parameters, s.result, s.error) for s in steps)
