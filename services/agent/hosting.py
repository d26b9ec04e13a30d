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
from services.agent.approval_store import StoredApproval
from services.agent.approvals import ApprovalGate, Waiting
from services.agent.control import RunHandle
from services.agent.models import ApprovalStatus, CallStage
from services.agent.toolclient import ToolCallError
from shared.errors import ErrorCode
from shared.wire.events import AnyEvent
from shared.wire.tools import ToolCallRequest, ToolCallSucceeded

__all__ = [
    "ApprovalPolicy",
    "Catalog",
    "HostBackend",
    "RunIds",
    "decode_steps",
    "encode_steps",
]

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
    @property
    def requires_approval(self) -> bool: ...


class Catalog(Protocol):
    async def tools(self) -> Sequence[_Spec]: ...


@dataclass(frozen=True, slots=True)
class RunIds:
    run_id: str
    thread_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Which tools a person must approve: what each tool declares, overridden per deployment
    (``APPROVAL_TOOLS`` always, ``NO_APPROVAL_TOOLS`` never)."""

    gate: ApprovalGate
    always: frozenset[str] = frozenset()
    never: frozenset[str] = frozenset()


@dataclass(eq=False)
class HostBackend:
    ids: RunIds
    handle: RunHandle
    events: EventSink
    tool_caller: ToolCaller
    book: RunBook
    catalog: Catalog | None = None
    approvals: ApprovalPolicy | None = None
    waiting: Waiting | None = None
    steps: list[ToolCallRecord] = field(default_factory=list)
    fenced: bool = False  # the agent ignored a stop: nothing it does may reach the user

    async def publish(self, event: AnyEvent, msg_id: str | None = None) -> int:
        self._check()
        return await self.events.publish(self.ids.user_id, event, msg_id=msg_id)

    async def tools(self) -> list[ToolSpec]:
        if self.catalog is None:
            return []
        return [ToolSpec(t.name, t.description, t.parameters) for t in await self.catalog.tools()]

    async def ask(self, question: str, reason: str = "") -> bool:
        if self.approvals is None:
            raise ToolFailed("question", ErrorCode.APPROVAL_NOT_FOUND, "approvals are off here")
        decided = await self._approval("", {}, uuid.uuid4().hex, reason, question)
        return decided.status is ApprovalStatus.APPROVED

    async def call_tool(
        self, name: str, parameters: dict[str, Any], tool_call_id: str, reason: str = ""
    ) -> Any:
        tool_call_id = tool_call_id or uuid.uuid4().hex
        if await self._requires_approval(name):
            decided = await self._approval(name, parameters, tool_call_id, reason, None)
            if decided.status is not ApprovalStatus.APPROVED:
                code, message = _refusal(decided)
                self.steps.append(ToolCallRecord(name, parameters, error=f"{code}: {message}"))
                raise ToolFailed(name, code, message)
        return await self._call(name, parameters, tool_call_id)

    async def _requires_approval(self, name: str) -> bool:
        policy = self.approvals
        if policy is None or name in policy.never:
            return False
        if name in policy.always:
            return True
        if self.catalog is None:
            return False
        return any(t.name == name and t.requires_approval for t in await self.catalog.tools())

    async def _approval(
        self,
        name: str,
        parameters: dict[str, Any],
        tool_call_id: str,
        reason: str,
        question: str | None,
    ) -> StoredApproval:
        assert self.approvals is not None and self.waiting is not None
        ids = {
            "run_id": self.ids.run_id,
            "thread_id": self.ids.thread_id,
            "user_id": self.ids.user_id,
        }
        why = reason or ("The agent asks you" if question else f"The agent wants to run {name}")
        return await self.approvals.gate.ask(
            self.publish,
            self.waiting,
            ids=ids,
            tool_call_id=tool_call_id,
            tool_name=name,
            parameters=parameters,
            reason=why,
            question=question,
        )

    async def _call(self, name: str, parameters: dict[str, Any], tool_call_id: str) -> Any:
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


def _refusal(decided: StoredApproval) -> tuple[str, str]:
    match decided.status:
        case ApprovalStatus.DENIED:
            said = f": {decided.decision_reason}" if decided.decision_reason else ""
            return ErrorCode.APPROVAL_DENIED, f"the user denied this call{said}"
        case ApprovalStatus.EXPIRED:
            return ErrorCode.APPROVAL_EXPIRED, "nobody approved this call in time"
    return ErrorCode.CANCELLED, "the run was stopped while waiting for approval"


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
