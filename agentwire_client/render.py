"""The terminal timeline: each frame as one or a few readable, coloured lines (rich).

Server text is always wrapped in ``rich.text.Text``, never parsed as markup, so a thought that
contains ``[bold]`` prints as it is.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.panel import Panel
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
}


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


class Timeline:
    """Renders frames as they come; remembers just enough to pair tool calls and time runs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._started: dict[str, float] = {}  # run_id -> agent_started timestamp
        self._params: dict[str, dict[str, Any]] = {}  # tool_call_id -> parameters

    def frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        data = frame.get("data") or {}
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(frame, data)

    def _line(self, *parts: tuple[str, str] | str) -> None:
        self.console.print(Text.assemble(*parts), highlight=False)

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
        title = Text.assemble(("answer", "bold green"), (f" · {elapsed}" if elapsed else "", "dim"))
        panel = Panel(Text(data.get("result", "")), title=title, title_align="left")
        self.console.print(panel, style="", highlight=False)

    def _on_agent_failed(self, frame: dict[str, Any], data: dict[str, Any]) -> None:
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
        elapsed = self._elapsed(frame, data)
        reason = data.get("reason", "cancelled")
        self._line(("■ cancelled ", "bold yellow"), (reason, "yellow"), (f"  {elapsed}", "dim"))

    def _on_error(self, _: dict[str, Any], data: dict[str, Any]) -> None:
        if data.get("code") == "intake_unavailable":  # the message was not stored
            self._line(
                ("✗ not sent: ", "bold red"),
                (data.get("message", ""), "red"),
                ("  (intake_unavailable)", "dim"),
            )
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
