"""The built-in analyst streams each thought and its answer as messages, at a typing pace.

What a user with ``deltas=1`` sees: message_started, deltas joining to exactly the whole text,
then the completing event naming the same message; a Stop ends the stream at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.agent.closing import Closer
from services.agent.control import RunHandle, StopReason
from services.agent.messages import Typing, answer_message_id, thought_message_id, tokens
from services.agent.models import RunStatus
from services.agent.planner import InfraAnalystPlanner
from services.agent.runner import Runner, RunSpec
from shared.wire.events import AgentCompleted, AgentThinking, MessageDelta, MessageStarted
from tests.unit.agent.fakes import Ledger, Stream, Tools

SPEC = RunSpec(run_id="0123456789abcdef", thread_id="t1", user_id="u1", content="how is latency?")


def runner(stream: Stream, tools: Tools, ledger: Ledger, **typing: Any) -> Runner:
    return Runner(
        events=stream,
        tools=tools,
        book=ledger,
        planner=InfraAnalystPlanner(),
        agent_name="infra_analyst",
        typing=Typing(**typing),
    )


@pytest.mark.parametrize(
    "text", ["", "one", "two words", "  leading\tand\n\ntrailing  ", "a\u00a0b  c\n", "\n"]
)
def test_tokens_are_words_with_their_whitespace_and_join_to_the_text(text: str) -> None:
    pieces = tokens(text)

    assert "".join(pieces) == text
    assert all(piece for piece in pieces)
    assert len(tokens("p99 is 412.3 ms, up 12%.")) == 6


def test_message_ids_are_derived_from_the_run() -> None:
    assert answer_message_id("r1") == "r1.answer"
    assert thought_message_id("r1", 3) == "r1.t3"
    assert answer_message_id("r1") == answer_message_id("r1")


async def test_every_thought_and_the_answer_stream_exactly_once_then_complete() -> None:
    stream, ledger = Stream(), Ledger()

    ending = await runner(stream, Tools(), ledger, tokens_per_s=0).run(
        SPEC, RunHandle(SPEC.run_id, 60)
    )

    assert ending is not None and ending.status is RunStatus.COMPLETED and ending.result
    thoughts = [e for e in stream.events if isinstance(e, AgentThinking)]
    started = [e for e in stream.events if isinstance(e, MessageStarted)]
    assert [s.data.message_id for s in started] == [
        *(thought_message_id(SPEC.run_id, step) for step in range(1, len(thoughts) + 1)),
        answer_message_id(SPEC.run_id),
    ]
    assert [s.data.kind for s in started] == ["thinking"] * len(thoughts) + ["answer"]
    for thought in thoughts:
        message_id = thought.data.message_id
        assert message_id == thought_message_id(SPEC.run_id, thought.data.step)
        assert stream.text_of(message_id) == thought.data.thought  # exactly once, in order
        opened = stream.events.index(next(s for s in started if s.data.message_id == message_id))
        completed = stream.events.index(thought)
        deltas = [
            i
            for i, e in enumerate(stream.events)
            if isinstance(e, MessageDelta) and e.data.message_id == message_id
        ]
        assert all(opened < i < completed for i in deltas)
    assert stream.text_of(answer_message_id(SPEC.run_id)) == ending.result
    assert stream.types[-1] == "message_delta"  # closing publishes agent_completed next


async def test_the_answer_is_typed_at_the_pace_in_coalesced_deltas() -> None:
    stream = Stream()
    answer = "word " * 40  # 40 tokens at 200 a second: about 0.2 s

    class OneAnswer:
        def start(self, message: str, history: list[str]) -> Any:
            class Plan:
                headline = "answering"

                def next_step(self, observation: Any) -> Any:
                    from services.agent.planner import Finish

                    return Finish(answer)

            return Plan()

    typed = Runner(
        events=stream,
        tools=Tools(),
        book=Ledger(),
        planner=OneAnswer(),
        agent_name="a",
        typing=Typing(tokens_per_s=200, flush_s=0.04),
    )
    began = time.monotonic()
    ending = await typed.run(SPEC, RunHandle(SPEC.run_id, 60))
    took = time.monotonic() - began

    assert ending is not None and ending.result == answer
    assert 0.18 <= took < 1.0
    deltas = [e.data.delta for e in stream.events if isinstance(e, MessageDelta)]
    assert "".join(deltas) == answer
    assert 2 <= len(deltas) <= 0.25 / 0.04 + 2  # coalesced: far fewer than 40


async def test_a_stop_mid_answer_stops_the_stream_before_the_end_is_announced() -> None:
    whole = await runner(Stream(), Tools(), Ledger(), tokens_per_s=0).run(SPEC, RunHandle("r", 60))
    assert whole is not None and whole.result
    stream, ledger, tools = Stream(), Ledger(), Tools()
    ledger.add(SPEC.run_id)
    slow = runner(stream, tools, ledger, tokens_per_s=100)  # the answer takes about 0.6 s
    closer = Closer(ledger=ledger, events=stream, tools=tools, agent_name="infra_analyst")
    handle = RunHandle(SPEC.run_id, 60)
    handle.task = task = asyncio.create_task(slow.run(SPEC, handle))
    answer_id = answer_message_id(SPEC.run_id)
    for _ in range(2000):  # until the answer has begun to appear
        if stream.text_of(answer_id):
            break
        await asyncio.sleep(0.005)

    assert handle.stop(StopReason.CANCELLED)
    ending = await task
    assert ending is not None
    await closer.close(SPEC.run_id, ending, started=handle.started, first_seq=handle.first_seq)
    await asyncio.sleep(0.2)  # a writer left running would publish within this

    assert stream.types[-1] == "agent_cancelled"
    shown = stream.text_of(answer_id)
    assert shown and whole.result.startswith(shown) and shown != whole.result  # as far as it got
    assert ledger.runs[SPEC.run_id].status is RunStatus.CANCELLED


async def test_a_completed_run_announces_the_answer_by_its_message_id() -> None:
    stream, ledger, tools = Stream(), Ledger(), Tools()
    ledger.add(SPEC.run_id)
    handle = RunHandle(SPEC.run_id, 60)
    ending = await runner(stream, tools, ledger, tokens_per_s=0).run(SPEC, handle)
    assert ending is not None
    closer = Closer(ledger=ledger, events=stream, tools=tools, agent_name="infra_analyst")

    await closer.close(SPEC.run_id, ending, started=handle.started, first_seq=handle.first_seq)

    completed = stream.events[-1]
    assert isinstance(completed, AgentCompleted)
    assert completed.data.message_id == answer_message_id(SPEC.run_id)
    assert stream.text_of(completed.data.message_id) == completed.data.result
    run = ledger.runs[SPEC.run_id]
    assert run.first_seq == 1 and run.last_seq == len(stream.events)  # the fake's seqs


async def test_a_delta_the_stream_will_not_take_fails_the_run_and_the_thought_never_completes() -> (
    None
):
    stream = Stream(refuse={"message_delta"})

    ending = await runner(stream, Tools(), Ledger(), tokens_per_s=0).run(
        SPEC, RunHandle(SPEC.run_id, 60)
    )

    assert ending is not None and ending.error_code == "publish_failed"
    assert stream.types == ["agent_started", "message_started"]


async def test_a_run_whose_lease_lapses_mid_answer_publishes_nothing_more() -> None:
    stream, tools = Stream(), Tools()
    handle = RunHandle(SPEC.run_id, 60)
    task = asyncio.create_task(runner(stream, tools, Ledger(), tokens_per_s=100).run(SPEC, handle))
    answer_id = answer_message_id(SPEC.run_id)
    for _ in range(2000):
        if stream.text_of(answer_id):
            break
        await asyncio.sleep(0.005)

    handle.fence()  # as when the lease may have run out: a sweeper may be ending the run
    ending = await task
    published = len(stream.events)
    await asyncio.sleep(0.1)

    assert ending is None  # another process announces its end
    assert len(stream.events) == published and stream.types[-1] == "message_delta"
