"""apply_recommendation changes a user's generated infrastructure; analyses see it, others don't."""

from __future__ import annotations

import pytest

from services.tools.builtin import builtin_registry
from services.tools.infra import MemoryInfra
from services.tools.registry import ToolFailed


async def analyse(registry, user: str, service: str = "api") -> dict:  # type: ignore[no-untyped-def]
    tool = registry.get("analyze_performance")
    params = tool.validate({"metric": "latency_ms", "service": service, "period": "7d"})
    return await tool.run(params, caller=user)


async def test_an_applied_change_shows_in_the_users_next_analysis_and_nobody_elses() -> None:
    registry = builtin_registry(infra=MemoryInfra())
    before = await analyse(registry, "alice")
    apply = registry.get("apply_recommendation")
    assert apply.requires_approval and apply.knows_caller
    params = apply.validate({"service": "api", "change": "enable_cache"})
    result = await apply.run(params, caller="alice")
    assert result["applied"] == "enable_cache" and result["expected_latency_change_pct"] == -40.0

    after = await analyse(registry, "alice")
    other = await analyse(registry, "bob")
    p99 = lambda report: report["services"]["api"]["p99"]  # noqa: E731
    assert p99(after) == pytest.approx(p99(before) * 0.6, rel=0.01)
    assert after["applied_changes"] == {"api": ["enable_cache"]}
    assert p99(other) == p99(before) and "applied_changes" not in other


async def test_the_same_change_twice_is_refused() -> None:
    registry = builtin_registry(infra=MemoryInfra())
    apply = registry.get("apply_recommendation")
    params = apply.validate({"service": "db", "change": "add_read_replica"})
    await apply.run(params, caller="alice")
    with pytest.raises(ToolFailed, match="already applied"):
        await apply.run(params, caller="alice")


def test_the_catalog_says_which_tool_needs_approval() -> None:
    specs = {spec.name: spec for spec in builtin_registry().specs()}
    assert specs["apply_recommendation"].requires_approval
    assert not specs["analyze_performance"].requires_approval
