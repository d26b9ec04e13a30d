"""Run an agent in a unit test: no NATS, no database, no tool runner.

::

    from agentwire_sdk.testing import run_agent

    async def test_greeter_says_hello():
        run = await run_agent(greeter, "hello")
        assert run.answer == "Hello! You said: hello"
        assert run.types[0] == "agent_started" and run.types[-1] == "agent_completed"

Tools are plain functions (sync or async) taking the call's parameters as keyword arguments;
each call is shown as the tool runner would show it (``tool_executing`` / ``tool_completed``), and
an exception in one is the call's ``tool_failed`` (a :class:`ToolFailed` keeps its code). The run
ends exactly as under the run host (:func:`agentwire_sdk.outcome.drive`), with its budget
(``timeout_s``: ``run_timeout``) and a stop (``cancel_after_s``: ``agent_cancelled``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentwire_sdk.agent import Agent
from agentwire_sdk.context import RunContext, ToolSpec, Turn, answer_message_id
from agentwire_sdk.errors import ToolFailed
from agentwire_sdk.outcome import Completed, Failed, Outcome, drive
from shared.wire.events import (
    AgentCancelled,
    AgentCancelledData,
    AgentCompleted,
    AgentCompletedData,
    AgentFailed,
    AgentFailedData,
    AgentStarted,
    AgentStartedData,
    AnyEvent,
    ToolCompleted,
    ToolCompletedData,
    ToolError,
    ToolExecuting,
    ToolExecutingData,
)

__all__ = ["Recording", "run_agent"]

LocalTool = Callable[..., Any]
RUN_ID, THREAD_ID = "test-run", "test-thread"


@dataclass
class Recording:
    """What the user would have seen of the run."""

    events: list[AnyEvent] = field(default_factory=list)
    outcome: Outcome | None = None
    cancelled: bool = False
    asked: list[str] = field(default_factory=list)  # approvals the run asked for, in order

    @property
    def types(self) -> list[str]:
        return [event.__struct_config__.tag for event in self.events]  # type: ignore[misc]

    @property
    def answer(self) -> str | None:
        return self.outcome.answer if isinstance(self.outcome, Completed) else None

    @property
    def thoughts(self) -> list[str]:
        return [e.data.thought for e in self.events if e.__struct_config__.tag == "agent_thinking"]  # type: ignore[union-attr,misc]

    def text(self, message_id: str) -> str:
        """A streamed message's deltas, joined."""
        return "".join(
            e.data.delta  # type: ignore[union-attr]
            for e in self.events
            if e.__struct_config__.tag == "message_delta" and e.data.message_id == message_id  # type: ignore[union-attr,misc]
        )


class _LocalBackend:
    def __init__(
        self,
        recording: Recording,
        tools: Mapping[str, LocalTool],
        gated: frozenset[str] = frozenset(),
        approve: bool = True,
    ) -> None:
        self._recording = recording
        self._tools = dict(tools)
        self._gated = gated
        self._approve = approve

    async def ask(self, question: str, reason: str = "") -> bool:
        self._recording.asked.append(question)
        return self._approve

    async def publish(self, event: AnyEvent) -> int:
        self._recording.events.append(event)
        return len(self._recording.events)

    async def tools(self) -> list[ToolSpec]:
        return [
            ToolSpec(name, (fn.__doc__ or name).strip().splitlines()[0], {"type": "object"})
            for name, fn in self._tools.items()
        ]

    async def call_tool(
        self, name: str, parameters: dict[str, Any], tool_call_id: str, reason: str = ""
    ) -> Any:
        if name in self._gated:
            self._recording.asked.append(f"{name} {parameters}")
            if not self._approve:
                raise ToolFailed(name, "approval_denied", "the user denied this call")
        ids = {"run_id": RUN_ID, "thread_id": THREAD_ID}
        call = {"tool_call_id": tool_call_id, "tool_name": name}
        await self.publish(
            ToolExecuting(**ids, data=ToolExecutingData(**call, parameters=parameters))
        )
        started = time.monotonic()
        result, error = None, None
        try:
            result = await _call(self._tools, name, parameters)
        except ToolFailed as exc:
            error = ToolError(code=exc.code, message=exc.message)
        except Exception as exc:
            error = ToolError(code="tool_failed", message=f"{type(exc).__name__}: {exc}")
        duration_ms = (time.monotonic() - started) * 1000
        data = ToolCompletedData(**call, result=result, duration_ms=duration_ms, error=error)
        await self.publish(ToolCompleted(**ids, data=data))
        if error is not None:
            raise ToolFailed(name, error.code, error.message)
        return result


async def _call(tools: dict[str, LocalTool], name: str, parameters: dict[str, Any]) -> Any:
    fn = tools.get(name)
    if fn is None:
        raise ToolFailed(name, "unknown_tool", f"no tool named {name!r}")
    result = fn(**parameters)
    return await result if inspect.isawaitable(result) else result


async def run_agent(
    agent: Agent,
    message: str,
    *,
    history: Sequence[Turn] = (),
    tools: Mapping[str, LocalTool] | None = None,
    timeout_s: float = 60.0,
    cancel_after_s: float | None = None,
    gated: frozenset[str] = frozenset(),
    approve: bool = True,
) -> Recording:
    """Run ``agent`` once on ``message``; every event it would have shown, and how it ended.

    ``gated``: tools that require approval; ``approve``: how the user answers every approval
    (and every ``run.ask``)."""
    recording = Recording()
    backend = _LocalBackend(recording, tools or {}, gated, approve)
    run = RunContext(
        backend,
        run_id=RUN_ID,
        thread_id=THREAD_ID,
        agent_id=agent.name,
        message=message,
        history=history,
        deadline=time.monotonic() + timeout_s,
    )
    ids = {"run_id": RUN_ID, "thread_id": THREAD_ID}
    await backend.publish(
        AgentStarted(**ids, data=AgentStartedData(agent_id=agent.name, message=message[:200]))
    )
    task = asyncio.create_task(drive(agent, run))
    stopper = None if cancel_after_s is None else _stop_later(task, run, cancel_after_s)
    try:
        recording.outcome = await asyncio.wait_for(task, timeout_s)
    except TimeoutError:
        recording.outcome = Failed("run_timeout", f"the run did not finish within {timeout_s:g}s")
    except asyncio.CancelledError:
        if not run.cancelled:
            raise
        recording.cancelled = True
    finally:
        if stopper is not None:
            stopper.cancel()
    await backend.publish(_terminal(agent, recording, ids))
    return recording


def _stop_later(task: asyncio.Task[Outcome], run: RunContext, after_s: float) -> asyncio.Handle:
    def stop() -> None:
        run._cancel()
        task.cancel()

    return asyncio.get_running_loop().call_later(after_s, stop)


def _terminal(agent: Agent, recording: Recording, ids: dict[str, str]) -> AnyEvent:
    outcome = recording.outcome
    if recording.cancelled or outcome is None:
        return AgentCancelled(**ids, data=AgentCancelledData(agent_id=agent.name))
    if isinstance(outcome, Failed):
        data = AgentFailedData(agent_id=agent.name, code=outcome.code, message=outcome.message)
        return AgentFailed(**ids, data=data)
    message_id = outcome.message_id or answer_message_id(RUN_ID)
    done = AgentCompletedData(agent_id=agent.name, result=outcome.answer, message_id=message_id)
    return AgentCompleted(**ids, data=done)
