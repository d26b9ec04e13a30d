import msgspec
import pytest

from shared.wire import events, frames, runs, tools


def test_event_on_the_bus_has_no_seq_and_the_seeds_required_fields() -> None:
    event = events.ToolExecuting(
        run_id="r1",
        thread_id="t1",
        data=events.ToolExecutingData(
            tool_call_id="c1", tool_name="analyze_performance", parameters={"metric": "latency_ms"}
        ),
    )
    body = msgspec.json.decode(events.encode_event(event))
    assert body["type"] == "tool_executing"
    assert "seq" not in body
    assert {"tool_name", "parameters", "timestamp", "tool_call_id"} <= body["data"].keys()
    assert isinstance(body["data"]["timestamp"], float)


def test_event_round_trips_with_a_seq() -> None:
    event = events.AgentCompleted(
        run_id="r",
        thread_id="t",
        seq=42,
        data=events.AgentCompletedData(agent_id="a", result="done"),
    )
    decoded = events.decode_event(events.encode_event(event))
    assert decoded == event


def test_readers_skip_fields_they_do_not_know() -> None:
    raw = (
        b'{"type":"agent_thinking","run_id":"r","thread_id":"t","future":1,'
        b'"data":{"agent_id":"a","thought":"x","timestamp":1.5,"confidence":0.9}}'
    )
    decoded = events.decode_event(raw)
    assert isinstance(decoded, events.AgentThinking)
    assert decoded.data.thought == "x"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"type":"message","content":""}', "length >= 1"),
        (b'{"type":"message"}', "missing required field `content`"),
        (b'{"type":"message","content":"hi","thread_id":"a>b"}', "$.thread_id"),
        (b'{"type":"message","content":5}', "Expected `str`"),
    ],
)
def test_bad_client_frames_say_what_is_wrong(raw: bytes, fragment: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=fragment.replace("$", r"\$")):
        frames.decode_client_frame(raw)


def test_submit_and_tool_replies_are_tagged_unions() -> None:
    started = runs.decode_submit_reply(runs.encode(runs.RunStarted(run_id="r", thread_id="t")))
    assert isinstance(started, runs.RunStarted)
    failed = tools.decode_tool_reply(tools.encode(tools.ToolCallFailed(code="c", message="m")))
    assert isinstance(failed, tools.ToolCallFailed)
