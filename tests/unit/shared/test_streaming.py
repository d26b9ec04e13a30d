"""The coalescing publishers: a bounded event rate whatever the producer's, the text exactly once,
the first piece at once, failures raised, nothing sent after close."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from shared.errors import PublishFailed
from shared.streaming import MessageWriter, ProgressReporter
from shared.wire.events import AnyEvent, MessageDelta, MessageStarted, ToolProgress


class Log:
    """A stand-in event log: each publish takes ``latency_s``, like a JetStream round trip."""

    def __init__(self, latency_s: float = 0.0, fail_after: int | None = None) -> None:
        self.events: list[AnyEvent] = []
        self.times: list[float] = []
        self.latency_s = latency_s
        self.fail_after = fail_after

    async def publish(self, event: AnyEvent) -> int:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise PublishFailed("could not store event")
        self.events.append(event)
        self.times.append(asyncio.get_running_loop().time())
        return len(self.events)

    @property
    def deltas(self) -> list[str]:
        return [e.data.delta for e in self.events if isinstance(e, MessageDelta)]


def writer(log: Log, interval_s: float = 0.04) -> MessageWriter:
    return MessageWriter(
        log.publish,
        run_id="r1",
        thread_id="t1",
        agent_id="a1",
        kind="answer",
        message_id="r1.answer",
        interval_s=interval_s,
    )


def reporter(log: Log, interval_s: float = 0.1) -> ProgressReporter:
    return ProgressReporter(
        log.publish,
        run_id="r1",
        thread_id="t1",
        tool_call_id="c1",
        tool_name="slow_task",
        interval_s=interval_s,
    )


async def test_a_thousand_tokens_in_a_second_make_at_most_26_deltas_that_join_to_the_text() -> None:
    log = Log(latency_s=0.001)
    text = [f"word{i} " for i in range(1000)]
    loop = asyncio.get_running_loop()

    async with writer(log) as answer:
        start = loop.time()
        for index, token in enumerate(text):  # 1,000 tokens in one second, on a schedule
            answer.write(token)
            if (wait := start + (index + 1) / 1000 - loop.time()) > 0:
                await asyncio.sleep(wait)
        whole = await answer.finish()
        took = loop.time() - start

    assert isinstance(log.events[0], MessageStarted)
    assert log.events[0].data.message_id == "r1.answer" and log.events[0].data.kind == "answer"
    # The first at once, then one per 40 ms (26 in a second), and finish's rest: the bound
    # follows how long the writing took, which a busy machine stretches.
    assert len(log.deltas) <= took / 0.04 + 2
    assert "".join(log.deltas) == whole == "".join(text)
    live = log.times[1:-1]  # the deltas before finish's, which goes without waiting
    gaps = [later - earlier for earlier, later in itertools.pairwise(live)]
    # Never much faster than the interval (the loop's clock granularity allows a little).
    assert min(gaps) >= 0.04 * 0.75


async def test_the_first_delta_goes_out_at_once() -> None:
    log = Log()
    async with writer(log, interval_s=10.0) as answer:  # an interval nobody would wait out
        answer.write("Hello")
        await asyncio.sleep(0.01)

        assert log.deltas == ["Hello"]
        await answer.close()


async def test_what_comes_within_the_interval_goes_out_together_and_finish_sends_it() -> None:
    log = Log()
    async with writer(log, interval_s=10.0) as answer:
        answer.write("a ")
        await asyncio.sleep(0.01)
        answer.write("b ")
        answer.write("c")
        await asyncio.sleep(0.01)
        assert log.deltas == ["a "]  # b and c wait for the interval...

        assert await answer.finish() == "a b c"  # ... or for finish, which does not wait it out

    assert log.deltas == ["a ", "b c"]


async def test_an_empty_message_is_started_and_has_no_deltas() -> None:
    log = Log()
    async with writer(log) as answer:
        answer.write("")
        assert await answer.finish() == ""

    assert [type(e).__name__ for e in log.events] == ["MessageStarted"]


async def test_a_failed_publish_is_raised_by_finish() -> None:
    log = Log(fail_after=1)  # message_started is stored, the first delta is not
    async with writer(log) as answer:
        answer.write("lost")
        with pytest.raises(PublishFailed):
            await answer.finish()


async def test_a_failed_publish_is_raised_by_the_next_write() -> None:
    log = Log(fail_after=1)
    async with writer(log) as answer:
        answer.write("lost")
        await asyncio.sleep(0.01)
        with pytest.raises(PublishFailed):
            answer.write("more")


async def test_close_stops_the_pump_at_once_and_drops_what_was_held_back() -> None:
    log = Log()
    answer = writer(log, interval_s=0.05)
    await answer.start()
    answer.write("sent ")
    await asyncio.sleep(0.01)
    answer.write("held back")

    await answer.close()
    await asyncio.sleep(0.1)

    assert log.deltas == ["sent "]
    with pytest.raises(RuntimeError):
        answer.write("after the end")


async def test_close_interrupts_a_publish_under_way_and_nothing_follows() -> None:
    log = Log(latency_s=0.2)
    answer = writer(log)
    await answer.start()
    answer.write("slow")
    await asyncio.sleep(0.01)  # the delta is being stored

    await asyncio.wait_for(answer.close(), 0.1)
    await asyncio.sleep(0.3)

    assert log.deltas == []


async def test_cancelling_the_producer_while_it_closes_the_writer_is_not_swallowed() -> None:
    log = Log(latency_s=0.2)

    async def produce() -> None:
        async with writer(log) as answer:
            answer.write("x")
            await asyncio.sleep(10)

    task = asyncio.create_task(produce())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_progress_keeps_only_the_newest_report_and_goes_out_at_most_every_interval() -> None:
    log = Log()
    progress = reporter(log, interval_s=0.05)
    for step in range(1, 101):
        progress.report(step / 100, f"step {step} of 100")
        await asyncio.sleep(0.002)  # 100 reports over about 0.2 s
    await progress.close()

    sent = [e.data for e in log.events if isinstance(e, ToolProgress)]
    assert 2 <= len(sent) <= 0.3 / 0.05 + 1
    assert sent[0].message == "step 1 of 100"  # the first at once
    fractions = [data.progress for data in sent]
    assert fractions == sorted(fractions) and all(f is not None and 0 < f <= 1 for f in fractions)
    assert all(data.tool_call_id == "c1" and data.tool_name == "slow_task" for data in sent)


async def test_progress_is_clamped_and_never_raises_into_the_tool() -> None:
    log = Log(fail_after=0)
    progress = reporter(log, interval_s=0.01)
    progress.report(7.5, "over the top")
    await asyncio.sleep(0.05)  # the publish failed
    progress.report(0.5)  # no exception: progress is advice
    await progress.close()
    progress.report(0.9)  # after close: ignored

    clamped = reporter(ok := Log())
    clamped.report(-1)
    await asyncio.sleep(0.01)
    await clamped.close()
    assert [e.data.progress for e in ok.events] == [0.0]  # type: ignore[union-attr]
