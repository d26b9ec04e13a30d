"""``apply_recommendation``: change the user's (generated) infrastructure. Requires approval.

It acts on the world, so a person must approve every call (``requires_approval``: the run host
asks before the tool runner is ever called). The change is kept per user
(:mod:`services.tools.infra`), and a later ``analyze_performance`` of the service reflects it.
"""

from __future__ import annotations

from typing import Any

from services.tools.builtin import metrics
from services.tools.infra import EFFECTS, Change, Infra
from services.tools.registry import Parameters, Tool, ToolFailed

__all__ = ["ApplyRecommendationParams", "tool"]


class ApplyRecommendationParams(Parameters):
    """Which service, and which change: scale its workers, enable a cache, add a read replica."""

    service: metrics.Service
    change: Change


def tool(infra: Infra) -> Tool:
    async def apply(params: ApplyRecommendationParams, *, caller: str) -> dict[str, Any]:
        current = await infra.changes(caller, params.service)
        if params.change in current.applied:
            raise ToolFailed(f"{params.change} is already applied to {params.service}")
        updated = await infra.apply(caller, params.service, params.change)
        return {
            "service": params.service,
            "applied": params.change,
            "all_applied": list(updated.applied),
            "expected_latency_change_pct": round((EFFECTS[params.change] - 1) * 100, 1),
            "source": metrics.SOURCE,
        }

    return Tool(
        name="apply_recommendation",
        description=(
            "Apply a recommended change to a service of the generated infrastructure "
            "(scale_workers, enable_cache or add_read_replica); a person approves it first"
        ),
        parameters=ApplyRecommendationParams,
        run=apply,
        requires_approval=True,
        knows_caller=True,
    )
