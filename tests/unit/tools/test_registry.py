"""The registry: finding tools, refusing bad parameters readably, describing tools to a planner."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.tools.builtin import builtin_registry
from services.tools.builtin.analyze_performance import AnalyzePerformanceParams
from services.tools.registry import InvalidParameters, Parameters, Registry, Tool, UnknownTool
from shared.errors import ErrorCode


def validate(tool: str, params: dict[str, Any]) -> Any:
    return builtin_registry().get(tool).validate(params)


def refusal(tool: str, params: dict[str, Any]) -> str:
    with pytest.raises(InvalidParameters) as caught:
        validate(tool, params)
    assert caught.value.code == ErrorCode.INVALID_PARAMETERS
    return caught.value.message


def test_malformed_period_is_refused_naming_the_field() -> None:
    message = refusal("analyze_performance", {"period": "7x"})
    assert message.startswith("invalid parameters for analyze_performance: ")
    assert "`$.period`" in message and "[hd]" in message


def test_unknown_metric_is_refused_naming_the_value() -> None:
    message = refusal("analyze_performance", {"metric": "latency"})
    assert "'latency'" in message and "`$.metric`" in message


def test_zero_z_threshold_is_refused_with_the_bound() -> None:
    message = refusal("detect_anomalies", {"z_threshold": 0})
    assert ">= 1.0" in message and "`$.z_threshold`" in message


def test_period_beyond_the_data_is_refused() -> None:
    assert "longer than the 30d" in refusal("estimate_savings", {"period": "45d"})


def test_misspelt_parameter_is_refused_rather_than_ignored() -> None:
    assert "`metrc`" in refusal("analyze_performance", {"metrc": "cpu_pct"})


def test_wrong_type_is_refused() -> None:
    assert "Expected `float`" in refusal("estimate_savings", {"target_utilization": "high"})


def test_defaults_are_filled_in() -> None:
    params = validate("analyze_performance", {})
    assert params == AnalyzePerformanceParams(metric="latency_ms", period="7d", service=None)
    assert msgspec.to_builtins(validate("detect_anomalies", {"metric": "cpu_pct"})) == {
        "metric": "cpu_pct",
        "period": "7d",
        "service": None,
        "z_threshold": 3.0,
    }
    assert msgspec.to_builtins(validate("estimate_savings", {})) == {
        "period": "30d",
        "target_utilization": 0.6,
        "hourly_cost_per_instance": 0.5,
    }


def test_integers_are_accepted_where_numbers_are_expected() -> None:
    assert validate("detect_anomalies", {"z_threshold": 4}).z_threshold == 4.0


def test_unknown_tool_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(UnknownTool) as caught:
        builtin_registry().get("summon_dragons")
    assert caught.value.code == ErrorCode.UNKNOWN_TOOL
    assert "'summon_dragons'" in caught.value.message
    known = "analyze_performance, apply_recommendation, detect_anomalies, estimate_savings"
    assert known + ", slow_task" in caught.value.message


async def _noop(params: Parameters) -> None:
    return None


def test_a_tool_name_must_be_a_subject_token() -> None:
    with pytest.raises(ValueError, match="subject token"):
        Registry([Tool("tools.>", "bad", Parameters, _noop)])


def test_a_tool_name_is_registered_once() -> None:
    registry = builtin_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.add(Tool("analyze_performance", "again", Parameters, _noop))


def test_builtin_registries_are_independent() -> None:
    extended = builtin_registry()
    extended.add(Tool("noop", "does nothing", Parameters, _noop))
    assert "noop" in extended.names()
    assert "noop" not in builtin_registry().names()


def test_describe_gives_a_planner_each_tool_and_its_schema() -> None:
    described = {tool["name"]: tool for tool in builtin_registry().describe()}
    assert list(described) == [
        "analyze_performance",
        "apply_recommendation",
        "detect_anomalies",
        "estimate_savings",
        "slow_task",
    ]
    for tool in described.values():
        assert tool["description"] and "\n" not in tool["description"]
        schema = tool["parameters"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert "$ref" not in msgspec.json.encode(schema).decode()
    period = described["analyze_performance"]["parameters"]["properties"]["period"]
    assert period["pattern"] == r"^[1-9][0-9]{0,2}[hd]$" and period["default"] == "7d"
    z = described["detect_anomalies"]["parameters"]["properties"]["z_threshold"]
    assert (z["minimum"], z["maximum"], z["default"]) == (1.0, 10.0, 3.0)


def test_limits_give_named_tools_their_own_timeout_and_concurrency() -> None:
    registry = builtin_registry()

    registry.limit(timeouts={"slow_task": 600}, concurrency={"slow_task": 2})

    assert (registry.get("slow_task").timeout_s, registry.get("slow_task").concurrency) == (600, 2)
    assert registry.get("analyze_performance").timeout_s is None


def test_a_limit_for_a_tool_that_does_not_exist_is_refused() -> None:
    with pytest.raises(UnknownTool, match="summon_dragons"):
        builtin_registry().limit(timeouts={"summon_dragons": 1})


def test_slow_task_takes_seconds_steps_and_an_optional_label() -> None:
    assert msgspec.to_builtins(validate("slow_task", {"seconds": 1, "steps": 4})) == {
        "seconds": 1.0,
        "steps": 4,
        "label": None,
    }
    assert "`$.seconds`" in refusal("slow_task", {"seconds": 601})
    assert "`$.label`" in refusal("slow_task", {"label": "../etc/passwd"})


SEARCH_SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}},
    "required": ["query"],
}


def raw_schema_tool() -> Tool:
    return Tool("docs__search", "Search the docs.", SEARCH_SCHEMA, _never)


async def _never(params: Any) -> None:
    raise AssertionError("not run by these tests")


def test_a_tool_carrying_a_json_schema_hands_it_out_as_it_is() -> None:
    registry = Registry([raw_schema_tool()])

    (spec,) = registry.specs()
    assert (spec.name, spec.description, spec.parameters) == (
        "docs__search",
        "Search the docs.",
        SEARCH_SCHEMA,
    )


def test_a_call_is_checked_against_the_carried_schema_and_passed_on_as_a_dict() -> None:
    tool = raw_schema_tool()

    assert tool.validate({"query": "nats", "limit": 3}) == {"query": "nats", "limit": 3}
    with pytest.raises(InvalidParameters) as caught:
        tool.validate({"query": "nats", "limit": 0})
    assert "docs__search" in caught.value.message and "`$.limit`" in caught.value.message
    with pytest.raises(InvalidParameters, match="'query' is a required property"):
        tool.validate({})


def test_a_schema_that_cannot_be_checked_here_leaves_the_check_to_its_server() -> None:
    tool = Tool("odd__tool", "odd", {"type": 7}, _never)
    assert tool.validate({"anything": 1}) == {"anything": 1}


def test_a_removed_tool_is_gone_from_the_registry() -> None:
    registry = Registry([raw_schema_tool()])

    registry.remove("docs__search")

    assert "docs__search" not in registry and registry.specs() == []
