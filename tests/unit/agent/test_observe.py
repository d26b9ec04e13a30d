"""The agent's run metrics and log context, without NATS or a database."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from types import SimpleNamespace

from services.agent import observe
from services.agent.models import RunStatus
from services.agent.repository import StoredRun
from shared.errors import ErrorCode
from shared.logging import bound, fields


def _run(status: RunStatus, code: str | None = None, run_id: str = "r1") -> StoredRun:
    now = time.time()
    return StoredRun(
        id=run_id,
        thread_id="t1",
        user_id="u1",
        status=status,
        content="",
        created_at=now - 2,
        started_at=now - 1,
        error_code=code,
    )


def vars_of(run: StoredRun) -> dict[str, object]:
    return {field.name: getattr(run, field.name) for field in dataclasses.fields(run)}


def test_outcomes_name_how_runs_ended_in_a_closed_set() -> None:
    assert observe.outcome_of("completed", None) == "completed"
    assert observe.outcome_of("cancelled", None) == "cancelled"
    assert observe.outcome_of("failed", ErrorCode.AGENT_LOST) == "lost"
    assert observe.outcome_of("failed", ErrorCode.RUN_TIMEOUT) == "timeout"
    assert observe.outcome_of("failed", ErrorCode.THREAD_NOT_FOUND) == "refused"
    assert observe.outcome_of("failed", ErrorCode.TOOL_FAILED) == "failed"


def test_an_ended_run_is_counted_with_its_duration_and_failure_code() -> None:
    runs, failures = observe.AGENT.runs, observe.AGENT.failures
    before = runs.get("completed"), runs.get("lost"), failures.get("agent_lost")
    timed = observe.AGENT.duration.count("completed")

    observe.run_ended(_run(RunStatus.COMPLETED))
    observe.run_ended(_run(RunStatus.FAILED, ErrorCode.AGENT_LOST, "r2"))

    assert runs.get("completed") == before[0] + 1
    assert runs.get("lost") == before[1] + 1
    assert failures.get("agent_lost") == before[2] + 1
    assert observe.AGENT.duration.count("completed") == timed + 1


def test_the_tokens_a_model_spent_are_counted_by_type() -> None:
    tokens = observe.AGENT.tokens
    before = tokens.get("input"), tokens.get("output")
    run = SimpleNamespace(**vars_of(_run(RunStatus.COMPLETED, run_id="r4")))
    run.input_tokens, run.output_tokens = 1200, 340  # as a model-driven run records them
    observe.run_ended(run)  # type: ignore[arg-type]
    assert (tokens.get("input"), tokens.get("output")) == (before[0] + 1200, before[1] + 340)


def test_an_unknown_error_code_does_not_become_a_label() -> None:
    before = observe.AGENT.failures.get("other")
    observe.run_refused("r3", "made_up_by_someone")
    assert observe.AGENT.failures.get("other") == before + 1


async def test_a_runs_task_logs_with_its_own_ids_not_its_creators() -> None:
    seen: dict[str, str] = {}

    async def work() -> None:
        seen.update(fields())

    with bound(run_id="previous", user_id="someone"):  # a run's end promoting the next
        await asyncio.get_running_loop().create_task(work(), context=observe.run_context("r9"))
    assert seen == {"run_id": "r9"}


def test_taking_a_message_binds_the_ids_its_subject_names() -> None:
    with observe.taking("agent.intake.u1.t1.r1", None):
        assert fields() == {"user_id": "u1", "thread_id": "t1", "run_id": "r1"}
    with observe.taking("not.an.intake", None):
        assert fields() == {}
