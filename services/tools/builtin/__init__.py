"""The tools agentwire ships: three computing from the metrics sample in :mod:`.metrics`, and
``slow_task``, a long-running tool for watching cancellation and timeouts work."""

from __future__ import annotations

from pathlib import Path

from services.tools.builtin import (
    analyze_performance,
    detect_anomalies,
    estimate_savings,
    slow_task,
)
from services.tools.registry import Registry, Tool

__all__ = ["BUILTIN_TOOLS", "builtin_registry"]

BUILTIN_TOOLS: tuple[Tool, ...] = (
    analyze_performance.TOOL,
    detect_anomalies.TOOL,
    estimate_savings.TOOL,
)


def builtin_registry(slow_task_dir: Path | None = None) -> Registry:
    """A fresh registry of the built-in tools (fresh, so a test can add its own to it)."""
    return Registry((*BUILTIN_TOOLS, slow_task.tool(slow_task_dir)))
