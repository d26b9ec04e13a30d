"""The terminal timeline: each frame as one or a few readable, coloured lines (rich).

Server text is always wrapped in ``rich.text.Text``, never parsed as markup, so a thought that
contains ``[bold]`` prints as it is.

Streamed text (a ``deltas=1`` socket) types out as it comes: a thought dimmed on its ``…`` line,
the answer under an ``answer`` heading. Its completing event then only ends the line (the text is
already there); a message that was not streamed prints whole, as before. A tool's progress is
one line rewritten in place on a terminal (one line per tenth elsewhere), replaced by its result.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.control import Control
from rich.panel import Panel
from rich.segment import ControlType
from rich.text import Text

__all__ = [
    "Timeline",
    "describe_failure",
    "describe_wait",
    "format_duration",
    "format_params",
    "raw",
    "summarize",
]

_MAX_VALUE_CHARS = 40
_REWRITE_LINE = Control((ControlType.CARRIAGE_RETURN,), (ControlType.ERASE_IN_LINE, 2))
_TEXT_STYLE = {"thinking": "dim italic", "answer": ""}
# Frames whose handler decides whether the line left open goes on (the rest end it first).
_KEEP_LINE_OPEN = frozenset(
    {"message_delta", "tool_progress", "tool_completed", "agent_thinking", "agent_completed"}
)

_PICK_AGENT = "/agents lists the agents; /agent <name> picks one"
# agent_failed codes in plain words (docs/protocol.md, error codes), with what to do when the
# user can do something; any other code is "failed" with the server's message.
_FAILURES: dict[str, tuple[str, str]] = {
    "thread_not_found": (
        "this thread was not found",
        "it does not exist or is not yours; /new starts a new thread",
    ),
    "thread_busy": ("this thread is busy", "send it again once the run in progress has ended"),
    "intake_failed": ("your message could not be taken in", "nothing ran; send it again"),
    "agent_lost": ("the agent stopped unexpectedly", ""),
    "agent_stopped": ("the agent was shut down before it finished", ""),
    "agent_error": ("the agent ran into an error", ""),
    "run_timeout": ("the run took too long", ""),
    "tool_failed": ("a tool failed", ""),
    "tool_timeout": ("a tool took too long", ""),
    "tool_unavailable": ("a tool was not available", ""),
    "tool_lost": ("a tool stopped responding", ""),
    "unknown_tool": ("the agent asked for a tool that does not exist", ""),
    "invalid_parameters": ("the agent called a tool the wrong way", ""),
    "result_too_large": ("a tool's result was too large", ""),
    "event_too_large": ("an update was too large to deliver", ""),
    "publish_failed": ("the run's progress could not be saved", ""),
    "approval_denied": ("a tool call was refused", ""),
    "approval_expired": ("nobody approved a tool call in time", ""),
    "unknown_agent": ("there is no agent by that name here", _PICK_AGENT),
}
# error frames answering a message that was not stored (nothing runs), with what to do
_NOT_SENT = {"intake_unavailable": "", "unknown_agent": _PICK_AGENT}


def describe_failure(code: str) -> tuple[str, str]:
    """An agent_failed code as (what happened, what to do), in plain words."""
    return _FAILURES.get(code, ("failed", ""))


def describe_wait(state: str | None, ahead: int | None) -> str:
    """What an accepted run waits for until its ``agent_started`` (from its ``run_accepted``)."""
    if state != "queued":
        return "starting"
    if ahead is None:
        return "queued: waiting for a free agent"
    return f"queued: waiting for a free agent, {f'{ahead} ahead' if ahead else 'next in line'}"


def format_duration(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms < 1:
        return "<1 ms"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _scalar(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list):
        return f"{len(value)} item" if len(value) == 1 else f"{len(value)} items"
    if isinstance(value, dict):
        return "{…}"
    text = str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def format_params(params: dict[str, Any] | None) -> str:
    """``service=api, period=7d``."""
    return ", ".join(f"{key}={_scalar(value)}" for key, value in (params or {}).items())


def summarize(result: Any, params: dict[str, Any] | None = None) -> str:
    """A one-line gist of a tool result: fields that do not echo the parameters, lists as counts."""
    if not isinstance(result, dict):
        return _scalar(result)
    params = params or {}
    fields = [(k, v) for k, v in result.items() if k != "unit" and params.get(k) != v]
    plain = [(k, v) for k, v in fields if not isinstance(v, dict | list)]
    lists = [(k, v) for k, v in fields if isinstance(v, list)]
    return " · ".join(f"{k}: {_scalar(v)}" for k, v in (plain + lists)[:4]) or "{…}"


def format_progress(tool_name: str, progress: float | None, message: str | None) -> Text:
    """``  ⋯ slow_task  40%  step 4 of 10``."""
    percent = f"  {progress:.0%}" if progress is not None else ""
    return Text.assemble(
        ("  ⋯ ", "yellow"),
        (tool_name, "yellow"),
        (percent, "bold yellow"),
        (f"  {message or ''}", "dim"),
    )


class Timeline:
    """Renders frames as they come; remembers just enough to pair tool calls, time runs, and go
    on with a line of streamed text (or of progress) left open."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._started: dict[str, float] = {}  # run_id -> agent_started timestamp
        self._params: dict[str, dict[str, Any]] = {}  # tool_call_id -> parameters
        self._kinds: dict[str, str] = {}  # message_id -> kind, for messages streamed so far
        self._typed: dict[str, str] = {}  # message_id -> its text printed so far
        self._run_of: dict[str, str] = {}  # message_id -> run_id, to forget a run's messages
        self._open: str | None = None  # the message_id or tool_call_id whose line is open
        self._progress_shown: dict[str, tuple[int, str | None]] = {}  # off a terminal

    def frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        data = frame.get("data") or {}
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return
        if kind not in _KEEP_LINE_OPEN:
            self.end_line()
        handler(frame, data)

    def _line(self, *parts: tuple[str, str] | str) -> None:
        self.console.print(Text.assemble(*parts), highlight=False)

    def end_line(self) -> None:
        """End a line of streamed text or progress left open, before printing anything else."""
        if self._open is not None:
            self._open = None
            self.console.print()

    # Streamed text and progress (deltas=1)

    def _on_run_snapshot(self, frame: dict[str, Any], _: dict[str, Any]) -> None:
        """A run under way when we joined (or one run's history): its events so far."""
        for event in frame.get("events") or []:
            self.frame({"run_id": frame["run_id"], "thread_id": frame.get("thread_id"), **event})

    def _on_message_started(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
        self._run_of[data["message_id"]] = frame.get("run_id", "")
        self._kinds[data["message_id"]] = data.get("kind", "answer")
        if data.get("kind") == "answer":
            self._line(("answer", "bold green"))

    def _on_message_delta(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
        message_id = data["message_id"]
        self._run_of.setdefault(message_id, frame.get("run_id", ""))
        kind = self._kinds.setdefault(message_id, "answer")  # a replay that began mid-message
        self._type(message_id, kind, data.get("delta", ""))

    def _type(self, message_id: str, kind: str, text: str) -> None:
        if self._open != message_id:
            self.end_line()
            self._open = message_id
            if kind == "thinking":
                self.console.print(Text("  … ", "dim"), end="")
        self._typed[message_id] = self._typed.get(message_id, "") + text
        self.console.print(Text(text, _TEXT_STYLE.get(kind, "")), end="", soft_wrap=True,
                           highlight=False)  # fmt: skip

    def _streamed(self, data: dict[str, Any], whole: str) -> bool:
        """The message this completing event completes was being typed out: type what is still
        missing of ``whole`` (a resume skips a completed message's deltas), end its line."""
        message_id = data.get("message_id") or ""
        kind, typed = self._kinds.pop(message_id, None), self._typed.pop(message_id, "")
        self._run_of.pop(message_id, None)
        if kind is not None and whole != typed:
            self._type(message_id, kind, whole[len(typed) :] if whole.startswith(typed) else whole)
        self.end_line()
        return kind is not None

    def _forget(self, run_id: str) -> None:
        """The run ended: its messages still open stay as far as they got."""
        for message_id in [m for m, run in self._run_of.items() if run == run_id]:
            del self._run_of[message_id]
            self._kinds.pop(message_id, None)
            self._typed.pop(message_id, None)

    def _on_tool_progress(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        call_id, progress, message = data["tool_call_id"], data.get("progress"), data.get("message")
        line = format_progress(data.get("tool_name", "tool"), progress, message)
        if self.console.is_terminal:
            if self._open != call_id:
                self.end_line()
            else:
                self.console.control(_REWRITE_LINE)
            self._open = call_id
            self.console.print(line, end="", highlight=False)
            return
        shown = (int((progress or 0) * 10), message if progress is None else None)
        if self._progress_shown.get(call_id) != shown:
            self._progress_shown[call_id] = shown
            self.end_line()
            self.console.print(line, highlight=False)

    def _on_run_accepted(self, frame: dict[str, Any], _: dict[str, Any]) -> None:
        parts: list[tuple[str, str]] = [
            ("→ run ", "dim"),
            (frame["run_id"][:8], "dim bold"),
            (" accepted, thread ", "dim"),
            (frame["thread_id"][:8], "dim bold"),
        ]
        if state := frame.get("state"):  # until its agent_started: no spinner, just why it waits
            wait = describe_wait(state, frame.get("ahead"))
            parts += [(" · ", "dim"), (wait, "yellow" if state == "queued" else "dim")]
        self._line(*parts)

    def _on_agent_started(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
        self._started[frame["run_id"]] = data.get("timestamp", 0.0)
        self._line(
            ("▶ ", "bold cyan"),
            (data.get("agent_id", "agent"), "bold cyan"),
            ("  ", ""),
            (data.get("message", ""), "cyan"),
        )

    def _on_agent_thinking(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        if not self._streamed(data, data.get("thought", "")):
            self._line(("  … ", "dim"), (data.get("thought", ""), "dim italic"))

    def _on_tool_executing(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        self._params[data["tool_call_id"]] = data.get("parameters") or {}
        self._line(
            ("  ⚙ ", "yellow"),
            (data["tool_name"], "bold yellow"),
            ("(", "dim"),
            (format_params(data.get("parameters")), "yellow"),
            (")", "dim"),
        )

    def _on_tool_completed(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        self._progress_shown.pop(data["tool_call_id"], None)
        if self._open == data["tool_call_id"] and self.console.is_terminal:
            self._open = None
            self.console.control(_REWRITE_LINE)  # the result takes the progress line's place
        self.end_line()
        params = self._params.pop(data["tool_call_id"], None)
        took = format_duration(data.get("duration_ms"))
        if error := data.get("error"):
            self._line(
                ("  ✗ ", "bold red"),
                (data["tool_name"], "bold red"),
                (f"  {took}  ", "dim"),
                (f"{error.get('code')}: {error.get('message')}", "red"),
            )
            return
        self._line(
            ("  ✓ ", "bold green"),
            (data["tool_name"], "green"),
            (f"  {took}  ", "dim"),
            ("→ ", "dim"),
            summarize(data.get("result"), params),
        )

    def _elapsed(self, frame: dict[str, Any], data: dict[str, Any]) -> str:
        started = self._started.pop(frame["run_id"], None)
        if started is None or "timestamp" not in data:
            return ""
        return format_duration((data["timestamp"] - started) * 1000)

    def _on_agent_completed(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
        elapsed = self._elapsed(frame, data)
        if self._streamed(data, data.get("result", "")):  # typed out: only say it is whole
            self._line(("✓ answered", "green"), (f" · {elapsed}" if elapsed else "", "dim"))
            return
        title = Text.assemble(("answer", "bold green"), (f" · {elapsed}" if elapsed else "", "dim"))
        panel = Panel(Text(data.get("result", "")), title=title, title_align="left")
        self.console.print(panel, style="", highlight=False)

    def _on_agent_failed(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
        self._forget(frame["run_id"])
        elapsed = self._elapsed(frame, data)
        code = data.get("code", "?")
        what, hint = describe_failure(code)
        self._line(
            ("✗ ", "bold red"),
            (what, "bold red"),
            (": ", "red"),
            (data.get("message", ""), "red"),
            (f"  ({code})", "dim"),
            (f"  {elapsed}" if elapsed else "", "dim"),
        )
        if hint:
            self._line(("  ", ""), (hint, "italic"))

    def _on_agent_cancelled(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
        self._forget(frame["run_id"])
        elapsed = self._elapsed(frame, data)
        reason = data.get("reason", "cancelled")
        self._line(("■ cancelled ", "bold yellow"), (reason, "yellow"), (f"  {elapsed}", "dim"))

    def _on_approval_requested(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        if question := data.get("question"):
            asked: list[tuple[str, str]] = [(question, "bold")]
        else:
            params = format_params(data.get("parameters"))
            asked = [(data.get("tool_name", "tool"), "bold"), (f"({params})", "yellow")]
            asked.append((" needs your approval", ""))
        reason = data.get("reason")
        self._line(("  ? ", "bold yellow"), *asked, (f": {reason}" if reason else "", "dim"))

    def _on_approval_resolved(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        decision, reason = data.get("decision", "?"), data.get("reason")
        style = {"approved": "green", "denied": "red", "expired": "red"}.get(decision, "yellow")
        by = {"timeout": "nobody decided in time", "stop": "the run was stopped"}.get(
            data.get("decided_by", ""), ""
        )
        why = f": {reason}" if reason else (f" ({by})" if by else "")
        self._line(("  ", ""), (decision, f"bold {style}"), (why, style))

    def _on_error(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        if (code := data.get("code", "")) in _NOT_SENT:  # the message was not stored
            self._line(
                ("✗ not sent: ", "bold red"),
                (data.get("message", ""), "red"),
                (f"  ({code})", "dim"),
            )
            if hint := _NOT_SENT[code]:
                self._line(("  ", ""), (hint, "italic"))
            return
        self._line(
            ("! ", "bold red"),
            (data.get("code", "error"), "bold red"),
            ": ",
            data.get("message", ""),
        )

    def _on_resume_gap(self, frame: dict[str, Any], _: dict[str, Any]) -> None:
        after, oldest = frame.get("after_seq"), frame.get("oldest_seq")
        gap = f"events after #{after} are no longer kept; the replay starts at #{oldest}"
        self._line(("! ", "bold yellow"), (gap, "yellow"))

    def _on_cancel_accepted(self, frame: dict[str, Any], _: dict[str, Any]) -> None:
        self._line(
            ("■ stopping run ", "yellow"),
            (frame["run_id"][:8], "yellow bold"),
            (f" ({frame.get('state')})", "dim"),
        )

    def _on_threads(self, frame: dict[str, Any], _: dict[str, Any]) -> None:
        for info in frame.get("threads", []):
            self._line(("  ", ""), (info["thread_id"], "bold"), "  ", info.get("title", ""))
        if not frame.get("threads"):
            self._line(("  no threads yet", "dim"))
        if frame.get("next_cursor"):
            self._line(("  more: /threads more", "dim"))


def raw(frame: dict[str, Any]) -> str:
    """A frame as one JSON line, for ``--json``."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
