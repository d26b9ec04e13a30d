"""The tools agentwire ships, all computing from the metrics sample in :mod:`.metrics`."""

from __future__ import annotations

from services.tools.builtin import analyze_performance, detect_anomalies, estimate_savings
from services.tools.registry import Registry, Tool

__all__ = ["BUILTIN_TOOLS", "builtin_registry"]

BUILTIN_TOOLS: tuple[Tool, ...] = (
    analyze_performance.TOOL,
    detect_anomalies.TOOL,
    estimate_savings.TOOL,
)


def builtin_registry() -> Registry:
    """A fresh registry of the built-in tools (fresh, so a test can add its own to it)."""
    return Registry(BUILTIN_TOOLS)
