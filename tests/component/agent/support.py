"""Stand-ins and probes for the agent's component tests.

:class:`ToolRunnerStandIn` answers ``tools.call.*`` the way the tool runner's contract says
(publish ``tool_executing``, publish ``tool_completed``, then reply), so these tests do not depend
on ``services.tools``. :class:`EventFeed` reads a user's events as the gateway does: from the
stream's republish to ``live.user.<id>.events``, with the stream sequence in ``Nats-Sequence``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from services.ws_gateway.intake import Intake
from shared import subjects
from shared.bus import EventPublisher
from shared.wire import runs, tools
from shared.wire.events import (
    STREAM_TYPES,
    TERMINAL_TYPES,
    ToolCompleted,
    ToolCompletedData,
    ToolError,
    ToolExecuting,
    ToolExecutingData,
)
from tests.unit.agent.test_planner import DEFAULT_RESULTS, SAVINGS

__all__ = [
    "REQUIRED",
    "EventFeed",
    "Received",
    "ToolRunnerStandIn",
    "Watch",
    "assert_one_run_well_formed",
    "cancel",
    "list_runs",
    "list_threads",
    "new_user",
    "submit",
    "whole",
]

# What a browser must find in each event's data (the seed report's fields, plus the pairing id).
REQUIRED = {
    "agent_started": {"agent_id", "message", "timestamp"},
    "agent_thinking": {"agent_id", "thought", "timestamp"},
    "tool_executing": {"tool_name", "parameters", "timestamp", "tool_call_id"},
    "tool_completed": {"tool_name", "result", "timestamp", "tool_call_id"},
    "agent_completed": {"agent_id", "result", "timestamp"},
    "agent_failed": {"agent_id", "code", "message", "timestamp"},
    "agent_cancelled": {"agent_id", "reason", "timestamp"},
    "message_started": {"message_id", "kind", "agent_id", "timestamp"},
    "message_delta": {"message_id", "delta", "timestamp"},
    "tool_progress": {"tool_call_id", "tool_name", "timestamp"},
}


def new_user() -> str:
    return uuid.uuid4().hex


@dataclass
class ToolRunnerStandIn:
    """Answers tool calls from canned results; ``failures`` reply an error; ``silent`` never do."""

    nc: NATS
    results: dict[str, Any] = field(
        default_factory=lambda: {**DEFAULT_RESULTS, "estimate_savings": SAVINGS}
    )
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    calls: list[tools.ToolCallRequest] = field(default_factory=list)
    called: asyncio.Event = field(default_factory=asyncio.Event)
    _sub: Subscription | None = None

    async def start(self) -> None:
        self._publisher = EventPublisher(self.nc.jetstream())
        self._sub = await self.nc.subscribe(subjects.tool_call_wildcard(), cb=self._on_call)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_call(self, msg: Msg) -> None:
        call = tools.decode_tool_call(msg.data)
        self.calls.append(call)
        self.called.set()
        if call.tool_name in self.silent:
            return
        ids = {"run_id": call.run_id, "thread_id": call.thread_id}
        await self._publisher.publish(
            call.user_id,
            ToolExecuting(
                **ids,
                data=ToolExecutingData(
                    tool_call_id=call.tool_call_id,
                    tool_name=call.tool_name,
                    parameters=call.parameters,
                ),
            ),
        )
        reply, data = self._outcome(call)
        await self._publisher.publish(call.user_id, ToolCompleted(**ids, data=data))
        await msg.respond(tools.encode(reply))

    def _outcome(
        self, call: tools.ToolCallRequest
    ) -> tuple[tools.ToolCallReply, ToolCompletedData]:
        common = {"tool_call_id": call.tool_call_id, "tool_name": call.tool_name}
        if call.tool_name in self.failures:
            code, message = self.failures[call.tool_name]
            error = ToolError(code=code, message=message)
            return (
                tools.ToolCallFailed(code=code, message=message),
                ToolCompletedData(**common, result=None, error=error),
            )
        result = self.results[call.tool_name]
        return (
            tools.ToolCallSucceeded(result=result, duration_ms=1.0),
            ToolCompletedData(**common, result=result, duration_ms=1.0),
        )


@dataclass(frozen=True)
class Received:
    seq: int
    frame: dict[str, Any]  # the event as JSON, as a browser would see it

    @property
    def type(self) -> str:
        return str(self.frame["type"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.frame["data"])


class EventFeed:
    """A user's live events, as the gateway receives them from the stream's republish;
    ``hide``: event types to pass over (a socket without ``deltas=1`` never sees STREAM_TYPES)."""

    def __init__(self, sub: Subscription, hide: frozenset[str] = frozenset()) -> None:
        self._sub = sub
        self._hide = hide

    async def _next(self, left_s: float) -> Received:
        """The next event not hidden, within ``left_s`` (hidden ones spend the time too)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + left_s
        while True:
            left = max(deadline - loop.time(), 0.001)
            received = _received(await self._sub.next_msg(timeout=left))
            if received.type not in self._hide:
                return received

    async def until(
        self, found: Callable[[Received], bool], timeout_s: float = 10.0
    ) -> list[Received]:
        """Every event up to and including the first one ``found`` accepts."""
        received: list[Received] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not received or not found(received[-1]):
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"not found; got {[r.type for r in received]}"
            received.append(await self._next(left))
        return received

    async def until_terminal(self, timeout_s: float = 10.0) -> list[Received]:
        received: list[Received] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not received or received[-1].type not in TERMINAL_TYPES:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"no terminal event; got {[r.type for r in received]}"
            received.append(await self._next(left))
        return received

    async def quiet_for(self, seconds: float) -> list[Received]:
        """Whatever arrives in the next ``seconds`` (a test expecting silence wants [])."""
        received: list[Received] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                received.append(await self._next(left))
            except nats.errors.TimeoutError:
                break
        return received


def _received(msg: Msg) -> Received:
    assert msg.headers is not None
    return Received(int(msg.headers["Nats-Sequence"]), json.loads(msg.data))


async def submit(nc: NATS, **fields: Any) -> runs.SubmitReply:
    """A message through the gateway's own intake: stored in the RUNS queue for the agents."""
    return await Intake(nc, timeout_s=5).submit(runs.RunRequest(**fields))


async def cancel(nc: NATS, user_id: str, run_id: str) -> runs.CancelReply:
    request = runs.CancelRequest(user_id=user_id, run_id=run_id)
    msg = await nc.request(subjects.run_cancel(), runs.encode(request), timeout=5)
    return runs.decode_cancel_reply(msg.data)


async def list_threads(nc: NATS, user_id: str) -> runs.ThreadList | runs.RunRejected:
    request = runs.ListThreadsRequest(user_id=user_id)
    msg = await nc.request(subjects.thread_list(), runs.encode(request), timeout=5)
    return runs.decode_thread_list_reply(msg.data)


async def list_runs(nc: NATS, user_id: str, thread_id: str) -> runs.RunList | runs.RunRejected:
    request = runs.ListRunsRequest(user_id=user_id, thread_id=thread_id)
    msg = await nc.request(subjects.run_list(), runs.encode(request), timeout=5)
    return runs.decode_run_list_reply(msg.data)


def whole(events: list[Received]) -> list[str]:
    """The types a socket without streamed text sees: no message_started, deltas or progress."""
    return [e.type for e in events if e.type not in STREAM_TYPES]


def assert_one_run_well_formed(events: list[Received], run_id: str) -> None:
    """The per-run contract: agent_started first; every tool_executing followed (not
    necessarily at once) by its tool_completed; exactly one terminal event, and it is last."""
    kinds = [e.type for e in events]
    assert all(e.frame["run_id"] == run_id for e in events), kinds
    assert kinds and kinds[0] == "agent_started", kinds
    assert sum(k in TERMINAL_TYPES for k in kinds) == 1 and kinds[-1] in TERMINAL_TYPES, kinds
    for event in events:
        assert REQUIRED[event.type] <= event.data.keys(), event.frame
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), seqs
    open_calls: set[str] = set()
    for event in events:
        call_id = event.data.get("tool_call_id")
        if event.type == "tool_executing":
            open_calls.add(call_id)
        elif event.type == "tool_completed":
            assert call_id in open_calls, f"tool_completed without tool_executing: {kinds}"
            open_calls.remove(call_id)
    assert not open_calls, f"tool calls never completed: {kinds}"


Watch = Callable[[str], Awaitable[EventFeed]]
