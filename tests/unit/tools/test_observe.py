"""The tool runner's call metrics: by tool and outcome, with no label a caller can mint."""

from __future__ import annotations

from services.tools.observe import TOOLS, observed_call
from shared.wire.tools import ToolCallFailed, ToolCallReply, ToolCallRequest, ToolCallSucceeded


class _Runner:
    def __init__(self, reply: ToolCallReply) -> None:
        self.reply = reply

    async def call(self, request: ToolCallRequest) -> ToolCallReply:
        return self.reply


def _request(tool: str) -> ToolCallRequest:
    return ToolCallRequest(
        user_id="u", run_id="r", thread_id="t", tool_call_id="c", tool_name=tool, parameters={}
    )


async def test_calls_are_counted_and_timed_by_tool_and_outcome() -> None:
    TOOLS.known = frozenset({"analyze_performance"})
    ok = TOOLS.calls.get("analyze_performance", "ok")
    failed = TOOLS.calls.get("analyze_performance", "tool_timeout")
    timed = TOOLS.duration.count("analyze_performance")

    await observed_call(
        _Runner(ToolCallSucceeded(result=1, duration_ms=1.0)), _request("analyze_performance"), None
    )
    reply = ToolCallFailed(code="tool_timeout", message="too slow")
    await observed_call(_Runner(reply), _request("analyze_performance"), None)

    assert TOOLS.calls.get("analyze_performance", "ok") == ok + 1
    assert TOOLS.calls.get("analyze_performance", "tool_timeout") == failed + 1
    assert TOOLS.duration.count("analyze_performance") == timed + 2
    assert TOOLS.in_flight.value == 0


async def test_a_name_that_is_no_tool_is_counted_as_unknown() -> None:
    TOOLS.known = frozenset({"analyze_performance"})
    reply = ToolCallFailed(code="not_a_code_we_know", message="?")
    before = TOOLS.calls.get("unknown", "failed")
    await observed_call(_Runner(reply), _request("../../etc/passwd"), None)
    assert TOOLS.calls.get("unknown", "failed") == before + 1
