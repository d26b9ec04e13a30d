"""Ending a run for good: the last events, in order, exactly once, whoever does it."""

from __future__ import annotations

import dataclasses

from services.agent.closing import NEVER_STARTED, Closer
from services.agent.ledger import StoredCall
from services.agent.messages import answer_message_id
from services.agent.models import CallStage, Ending, RunStatus
from services.agent.toolclient import RUNNING_BEAT as HEARD_AS_RUNNING
from services.tools.runner import RUNNING_BEAT
from shared.wire.events import (
    ToolExecuting,
    ToolExecutingData,
    started_msg_id,
    terminal_msg_id,
    tool_completed_msg_id,
    tool_executing_msg_id,
)
from tests.unit.agent.fakes import Ledger, Stream, Tools, tag

RUN = "0123456789abcdef"


def closer(ledger: Ledger, stream: Stream, tools: Tools) -> Closer:
    return Closer(ledger=ledger, events=stream, tools=tools, agent_name="infra_analyst")


async def test_the_owner_records_then_announces_the_end_with_a_fixed_message_id() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN, started_at=1.0)

    await closer(ledger, stream, Tools()).close(RUN, Ending.completed("p99 is 412 ms"))

    assert stream.types == ["agent_completed"]
    assert stream.events[0].data.result == "p99 is 412 ms"
    assert stream.events[0].data.agent_id == "infra_analyst_01234567"
    assert stream.msg_ids == [terminal_msg_id(RUN)]
    assert ledger.runs[RUN].announced and ledger.runs[RUN].status is RunStatus.COMPLETED


async def test_a_run_ended_by_someone_else_is_not_announced_again_by_its_old_owner() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN, started_at=1.0, owner="the-sweeper")

    await closer(ledger, stream, Tools()).close(RUN, Ending.completed("late"))

    assert stream.events == []


async def test_a_run_that_never_started_still_begins_with_agent_started() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN)

    await closer(ledger, stream, Tools()).close(RUN, Ending.cancelled("cancelled by the user"))

    assert stream.types == ["agent_started", "agent_cancelled"]
    assert stream.events[0].data.message == NEVER_STARTED
    assert stream.msg_ids == [started_msg_id(RUN), terminal_msg_id(RUN)]
    assert stream.events[1].data.reason == "cancelled by the user"


async def test_a_running_tool_call_nobody_ended_gets_its_tool_completed_before_the_end() -> None:
    ledger, stream, tools = Ledger(), Stream(), Tools()
    ledger.add(RUN, started_at=1.0)
    ledger.calls["call-1"] = StoredCall("call-1", RUN, "slow_task", CallStage.RUNNING)

    await closer(ledger, stream, tools).close(RUN, Ending.failed("tool_lost", "runner gone"))

    assert tools.cancelled == ["call-1"]
    assert stream.types == ["tool_completed", "agent_failed"]
    completed = stream.events[0].data
    assert (completed.tool_call_id, completed.result) == ("call-1", None)
    assert completed.error is not None and completed.error.code == "tool_lost"
    assert stream.msg_ids[0] == tool_completed_msg_id("call-1")
    assert ledger.calls == {}


async def test_a_call_its_tool_runner_stopped_is_completed_by_the_runner_not_again_here() -> None:
    ledger, stream, tools = Ledger(), Stream(), Tools(held={"call-1"})
    ledger.add(RUN, started_at=1.0)
    ledger.calls["call-1"] = StoredCall("call-1", RUN, "slow_task", CallStage.RUNNING)

    await closer(ledger, stream, tools).close(RUN, Ending.cancelled("cancelled by the user"))

    assert stream.types == ["agent_cancelled"]
    assert tools.cancelled == ["call-1"] and ledger.calls == {}


async def test_a_call_no_runner_took_is_stopped_but_shows_nothing() -> None:
    ledger, stream, tools = Ledger(), Stream(), Tools()
    ledger.add(RUN, started_at=1.0)
    ledger.calls["call-1"] = StoredCall("call-1", RUN, "slow_task", CallStage.REQUESTED)

    await closer(ledger, stream, tools).close(RUN, Ending.cancelled("cancelled by the user"))

    assert tools.cancelled == ["call-1"]  # so that it never starts, wherever it waits
    assert stream.types == ["agent_cancelled"]


async def test_a_taken_call_whose_runner_died_is_completed_whether_or_not_it_showed() -> None:
    ledger, stream, tools = Ledger(), Stream(), Tools()
    ledger.add(RUN, started_at=1.0)
    ledger.calls["shown"] = StoredCall("shown", RUN, "slow_task", CallStage.TAKEN, {"steps": 2})
    ledger.calls["unseen"] = StoredCall("unseen", RUN, "slow_task", CallStage.TAKEN)
    # The runner stored "shown"'s tool_executing, then died before saying so:
    await stream.publish("u1", executing("shown"), msg_id=tool_executing_msg_id("shown"))

    await closer(ledger, stream, tools).close(RUN, Ending.failed("tool_lost", "runner gone"))

    tool_events = [(tag(e), e.data.tool_call_id) for e in stream.events[:-1]]
    assert sorted(tool_events) == sorted(
        [
            ("tool_executing", "shown"),
            ("tool_completed", "shown"),
            ("tool_executing", "unseen"),
            ("tool_completed", "unseen"),
        ]
    )
    assert stream.types[-1] == "agent_failed"


def test_the_agent_and_the_tool_runner_agree_on_heartbeats() -> None:
    # The event ids both use come from shared.wire.events; the heartbeat word must match too.
    assert HEARD_AS_RUNNING == RUNNING_BEAT


async def test_a_run_taken_over_from_a_dead_agent_fails_as_agent_lost() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN, started_at=1.0)

    recovered = await closer(ledger, stream, Tools()).recover(RUN)

    assert recovered is not None and recovered.thread_id == "t1"
    assert stream.types == ["agent_failed"] and stream.events[0].data.code == "agent_lost"


async def test_a_run_taken_over_after_its_user_cancelled_it_ends_cancelled() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN, started_at=1.0, cancel_requested=True)

    await closer(ledger, stream, Tools()).recover(RUN)

    assert stream.types == ["agent_cancelled"]


async def test_announcing_again_after_a_crash_half_way_stores_no_second_copy() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN)
    await closer(ledger, stream, Tools()).close(RUN, Ending.failed("run_timeout", "too long"))
    # As if the process had died just before marking the run announced:
    ledger.runs[RUN] = dataclasses.replace(ledger.runs[RUN], announced=False, started_at=None)

    await closer(ledger, stream, Tools()).announce(RUN)

    assert stream.types == ["agent_started", "agent_failed"]


def executing(call_id: str) -> ToolExecuting:
    data = ToolExecutingData(tool_call_id=call_id, tool_name="slow_task", parameters={"steps": 2})
    return ToolExecuting(run_id=RUN, thread_id="t1", data=data)


async def test_an_answer_too_large_to_store_is_announced_as_event_too_large_instead() -> None:
    ledger, stream = Ledger(), Stream(too_large={"agent_completed"})
    ledger.add(RUN, started_at=1.0)

    await closer(ledger, stream, Tools()).close(RUN, Ending.completed("x" * 9_000_000))

    assert stream.types == ["agent_failed"]
    assert stream.events[0].data.code == "event_too_large"
    assert stream.msg_ids == [terminal_msg_id(RUN)]
    stored = ledger.runs[RUN]
    assert stored.announced and (stored.status, stored.error_code) == (
        RunStatus.FAILED,
        "event_too_large",
    )


async def test_agent_completed_always_names_the_answer_message_even_from_a_sweeper() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN, started_at=1.0)
    await closer(ledger, stream, Tools()).close(RUN, Ending.completed("p99 is 412 ms"))
    # As if the process had died just before marking the run announced: a sweeper announces it.
    ledger.runs[RUN] = dataclasses.replace(ledger.runs[RUN], announced=False)

    sweepers = Stream()
    await closer(ledger, sweepers, Tools()).announce(RUN)

    assert stream.types == sweepers.types == ["agent_completed"]
    assert stream.events[0].data.message_id == answer_message_id(RUN)
    assert sweepers.events[0].data.message_id == answer_message_id(RUN)


async def test_the_end_records_where_the_runs_first_and_last_events_are() -> None:
    ledger, stream = Ledger(), Stream()  # its seqs are positions in the fake log, from 1
    ledger.add(RUN)

    await closer(ledger, stream, Tools()).close(RUN, Ending.cancelled())

    run = ledger.runs[RUN]
    assert stream.types == ["agent_started", "agent_cancelled"]
    assert (run.first_seq, run.last_seq) == (1, 2)


async def test_a_sweeper_re_announcing_finds_the_first_copies_seqs() -> None:
    ledger, stream = Ledger(), Stream()
    ledger.add(RUN)
    await closer(ledger, stream, Tools()).close(RUN, Ending.failed("run_timeout", "too long"))
    ledger.runs[RUN] = dataclasses.replace(
        ledger.runs[RUN], announced=False, started_at=None, first_seq=None, last_seq=None
    )

    await closer(ledger, stream, Tools()).announce(RUN)  # both events are duplicates now

    assert (ledger.runs[RUN].first_seq, ledger.runs[RUN].last_seq) == (1, 2)
