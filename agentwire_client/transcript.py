"""What your runs have said so far: events folded into per-run state, sans I/O.

A :class:`Transcript` takes frames (live events, ``run_snapshot`` frames, the compact replay of a
``deltas=1`` socket) and keeps, for each run, its messages by ``message_id`` with their text so
far, its tool calls with their progress, and how it ended::

    transcript = Transcript()
    async with Client(ws_url, token, deltas=True) as client:
        await client.send("Why is the api slow this week?")
        async for update in transcript.follow(client):
            match update:
                case MessageUpdate(message=message):
                    print(message.kind, message.text)      # the whole text so far
                case ToolUpdate(tool=tool) if tool.progress is not None:
                    print(tool.tool_name, f"{tool.progress:.0%}")
                case RunUpdate(run=run) if run.ended:
                    break

The rules (docs/protocol.md, *Streamed text*): ``message_started`` opens a message,
``message_delta`` appends to it, and the event that carries the whole text with the same
``message_id`` (``agent_thinking`` for a thought, ``agent_completed`` for the answer) sets it and
completes it. The run's terminal event ends every message still open
(:attr:`MessageStatus.CUT_SHORT`: the text stays as far as it got). On a socket without
``deltas`` the same code works: each thought and the answer arrive whole, as complete messages
(a thought with no ``message_id`` is named ``seq-<its seq>``).

Events at or below the newest seq already folded into a run are skipped, so live events and a
snapshot of the same run may overlap. A ``run_snapshot`` that holds a message's ``message_started``
holds its whole text so far in one delta, which replaces what was known. Fold a snapshot of part
of a run (``run_events`` with a later ``after_seq``) only onto a run folded up to that point.
After a ``resume_gap`` (events lost), read the runs you show again with ``run_events`` into a new
Transcript.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

__all__ = [
    "Approval",
    "ApprovalUpdate",
    "Message",
    "MessageStatus",
    "MessageUpdate",
    "RunState",
    "RunStatus",
    "RunUpdate",
    "ToolCall",
    "ToolStatus",
    "ToolUpdate",
    "Transcript",
    "Update",
]

Frame = dict[str, Any]
MessageKind = Literal["thinking", "answer"]


class MessageStatus(Enum):
    STREAMING = "streaming"  # text is still coming
    COMPLETE = "complete"  # its completing event set the whole text
    CUT_SHORT = "cut_short"  # the run ended first: the text is as far as it got


class RunStatus(Enum):
    QUEUED = "queued"  # accepted, not started
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ToolStatus(Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


_ENDED_BY = {
    "agent_completed": RunStatus.COMPLETED,
    "agent_failed": RunStatus.FAILED,
    "agent_cancelled": RunStatus.CANCELLED,
}


@dataclass
class Message:
    """A thought or an answer: ``text`` is all of it so far."""

    message_id: str
    kind: MessageKind | None = None  # None until known (a replay that began mid-message)
    text: str = ""
    status: MessageStatus = MessageStatus.STREAMING
    seq: int = 0  # the newest event folded into it

    @property
    def done(self) -> bool:
        return self.status is not MessageStatus.STREAMING

    def append(self, delta: str, seq: int) -> bool:
        if self.done:  # a late piece of a message already whole: the whole text wins
            return False
        self.text, self.seq = self.text + delta, seq
        return True

    def finish(self, kind: MessageKind, text: str, seq: int) -> None:
        self.kind, self.text, self.seq = kind, text, seq
        self.status = MessageStatus.COMPLETE


@dataclass
class ToolCall:
    """One tool call: running (with its latest progress) until its ``tool_completed``."""

    tool_call_id: str
    tool_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    status: ToolStatus = ToolStatus.RUNNING
    progress: float | None = None  # 0..1, when the tool tells
    progress_message: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None  # {code, message} when it failed
    duration_ms: float | None = None


@dataclass
class Approval:
    """A tool call (or a yes/no ``question``) waiting for a person: ``decision`` is None until
    ``approval_resolved`` (then ``approved``, ``denied``, ``expired`` or ``cancelled``). Answer
    with :meth:`Client.approve` / :meth:`Client.deny`."""

    approval_id: str
    tool_name: str  # "" for a question
    parameters: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # why the agent asks
    question: str | None = None
    expires_at: float | None = None
    decision: str | None = None
    decided_by: str | None = None  # user, timeout or stop


@dataclass
class RunState:
    """One run as folded so far. ``messages`` and ``tools`` keep the order they started in."""

    run_id: str
    thread_id: str | None = None
    status: RunStatus = RunStatus.RUNNING
    messages: dict[str, Message] = field(default_factory=dict)
    tools: dict[str, ToolCall] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    result: str | None = None  # the answer, once completed
    error_code: str | None = None  # agent_failed's code
    error_message: str | None = None  # agent_failed's message, or agent_cancelled's reason
    last_seq: int = 0  # the newest event folded in

    @property
    def ended(self) -> bool:
        return self.status in _ENDED_BY.values()

    @property
    def answer(self) -> Message | None:
        """The answer so far (the last answer message), if one has started."""
        answers = [m for m in self.messages.values() if m.kind == "answer"]
        return answers[-1] if answers else None

    @property
    def waiting_for(self) -> list[Approval]:
        """Approvals not decided yet: the run waits for a person."""
        return [a for a in self.approvals.values() if a.decision is None]

    def message(self, message_id: str) -> Message:
        return self.messages.setdefault(message_id, Message(message_id))

    def end(self, status: RunStatus) -> list[Message]:
        """The run ended: every message still open is cut short; returns those."""
        self.status = status
        cut = [m for m in self.messages.values() if not m.done]
        for message in cut:
            message.status = MessageStatus.CUT_SHORT
        return cut


@dataclass(frozen=True)
class MessageUpdate:
    """A message changed: ``delta`` is the text just added ("" when the whole text was set)."""

    run: RunState
    message: Message
    delta: str = ""


@dataclass(frozen=True)
class ToolUpdate:
    """A tool call started, reported progress, or completed."""

    run: RunState
    tool: ToolCall


@dataclass(frozen=True)
class ApprovalUpdate:
    """An approval was requested, or resolved (``approval.decision``)."""

    run: RunState
    approval: Approval


@dataclass(frozen=True)
class RunUpdate:
    """A run was accepted, started, or ended (``run.ended``; its outcome in ``run.status``)."""

    run: RunState


Update = MessageUpdate | ToolUpdate | ApprovalUpdate | RunUpdate


class Transcript:
    """Per-run state folded from frames; :meth:`apply` one frame at a time, or :meth:`follow`."""

    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}

    def run(self, run_id: str, thread_id: str | None = None) -> RunState:
        run = self.runs.setdefault(run_id, RunState(run_id, thread_id))
        run.thread_id = run.thread_id or thread_id
        return run

    async def follow(self, frames: AsyncIterable[Frame]) -> AsyncIterator[Update]:
        """Every update the frames make (``frames``: a :class:`Client`, say), as they come."""
        async for frame in frames:
            for update in self.apply(frame):
                yield update

    def apply(self, frame: Frame) -> list[Update]:
        """Fold one frame in; returns what it changed (nothing for frames it does not fold)."""
        match frame.get("type"):
            case "run_accepted":
                return self._accepted(frame)
            case "run_snapshot":
                run = self.run(frame["run_id"], frame.get("thread_id"))
                return self._snapshot(run, frame.get("events") or [])
        if not isinstance(frame.get("seq"), int) or "run_id" not in frame:
            return []
        run = self.run(frame["run_id"], frame.get("thread_id"))
        if frame["seq"] <= run.last_seq:
            return []  # already folded in (a replay, or a snapshot that overlapped)
        run.last_seq = frame["seq"]
        return self._event(run, frame, frame.get("data") or {})

    def _accepted(self, frame: Frame) -> list[Update]:
        if frame["run_id"] in self.runs:
            return []
        run = self.run(frame["run_id"], frame.get("thread_id"))
        run.status = RunStatus.QUEUED
        return [RunUpdate(run)]

    def _snapshot(self, run: RunState, events: list[Frame]) -> list[Update]:
        """A snapshot's message_started and the one delta after it hold that message's whole
        text so far: that delta replaces the text instead of adding to it."""
        whole: set[str] = set()
        updates: list[Update] = []
        for event in events:
            data = event.get("data") or {}
            message_id = data.get("message_id")
            if event.get("type") == "message_started" and message_id:
                whole.add(message_id)
            elif event.get("type") == "message_delta" and message_id in whole:
                message = run.message(message_id)
                if event.get("seq", 0) > run.last_seq and not message.done:
                    message.text = ""  # the delta that follows is all of it
            updates += self.apply({"run_id": run.run_id, **event})
        return updates

    def _event(self, run: RunState, frame: Frame, data: dict[str, Any]) -> list[Update]:
        seq, kind = frame["seq"], frame["type"]
        match kind:
            case "agent_started":
                if run.status is RunStatus.QUEUED:
                    run.status = RunStatus.RUNNING
                return [RunUpdate(run)]
            case "message_started":
                message = run.message(data["message_id"])
                message.kind = data.get("kind") or message.kind
                return [MessageUpdate(run, message)]
            case "message_delta":
                message = run.message(data["message_id"])
                delta = data.get("delta", "")
                return [MessageUpdate(run, message, delta)] if message.append(delta, seq) else []
            case "agent_thinking":
                message = run.message(data.get("message_id") or f"seq-{seq}")
                message.finish("thinking", data.get("thought", ""), seq)
                return [MessageUpdate(run, message)]
            case "tool_executing" | "tool_progress" | "tool_completed":
                return [ToolUpdate(run, self._tool(run, kind, data))]
            case "approval_requested" | "approval_resolved":
                return [ApprovalUpdate(run, self._approval(run, kind, data))]
            case "agent_completed" | "agent_failed" | "agent_cancelled":
                return self._ended(run, kind, data, seq)
        return []

    @staticmethod
    def _approval(run: RunState, kind: str, data: dict[str, Any]) -> Approval:
        approval_id = data["approval_id"]
        approval = run.approvals.setdefault(
            approval_id, Approval(approval_id, data.get("tool_name", ""))
        )
        if kind == "approval_requested":
            approval.parameters = data.get("parameters") or {}
            approval.reason, approval.question = data.get("reason", ""), data.get("question")
            approval.expires_at = data.get("expires_at")
        else:
            approval.decision, approval.decided_by = data.get("decision"), data.get("decided_by")
        return approval

    @staticmethod
    def _tool(run: RunState, kind: str, data: dict[str, Any]) -> ToolCall:
        call_id = data["tool_call_id"]
        tool = run.tools.setdefault(call_id, ToolCall(call_id, data.get("tool_name", "")))
        if kind == "tool_executing":
            tool.parameters = data.get("parameters") or {}
        elif kind == "tool_progress":
            tool.progress = data.get("progress", tool.progress)
            tool.progress_message = data.get("message", tool.progress_message)
        else:
            tool.error = data.get("error")
            tool.status = ToolStatus.FAILED if tool.error else ToolStatus.COMPLETED
            tool.result, tool.duration_ms = data.get("result"), data.get("duration_ms")
        return tool

    def _ended(self, run: RunState, kind: str, data: dict[str, Any], seq: int) -> list[Update]:
        updates: list[Update] = []
        if kind == "agent_completed":
            run.result = data.get("result", "")
            answer = run.message(data.get("message_id") or f"seq-{seq}")
            answer.finish("answer", run.result, seq)
            updates.append(MessageUpdate(run, answer))
        else:
            run.error_code = data.get("code")
            run.error_message = data.get("message", data.get("reason"))
        updates += [MessageUpdate(run, message) for message in run.end(_ENDED_BY[kind])]
        return [*updates, RunUpdate(run)]
