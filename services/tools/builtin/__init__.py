"""The tools agentwire ships: three computing from the metrics sample in :mod:`.metrics` (as
changed by the user through ``apply_recommendation``, which needs a person's approval), and
``slow_task``, a long-running tool for watching cancellation and timeouts work."""

from __future__ import annotations

from pathlib import Path

from services.tools.builtin import (
    analyze_performance,
    apply_recommendation,
    detect_anomalies,
    estimate_savings,
    slow_task,
)
from services.tools.infra import Infra, MemoryInfra
from services.tools.registry import Registry, Tool

__all__ = ["BUILTIN_TOOLS", "builtin_registry"]

BUILTIN_TOOLS: tuple[Tool, ...] = (
    detect_anomalies.TOOL,
    estimate_savings.TOOL,
)


def builtin_registry(slow_task_dir: Path | None = None, infra: Infra | None = None) -> Registry:
    """A fresh registry of the built-in tools (fresh, so a test can add its own to it);
    ``infra``: where users' changes are kept (None: in memory, for tests)."""
    state = infra or MemoryInfra()
    return Registry(
        (
            *BUILTIN_TOOLS,
            analyze_performance.tool(state),
            apply_recommendation.tool(state),
            slow_task.tool(slow_task_dir),
        )
    )
