"""What an operator sees of the agent: run metrics, each run's trace, and its log context.

The hooks, each a line where the thing happens:

- :func:`taking` (the intake, around taking one RUNS message in): the ``process RUNS`` span,
  child of the ``traceparent`` the gateway stored on the message, and inside it the run's
  ``invoke_agent`` span, kept until the run ends;
- :func:`run_context` (the run's task is made in it): the run's ids for every log line, and its
  ``invoke_agent`` span as the parent of the tool calls' ``execute_tool`` spans;
- :func:`run_ended` / :func:`run_refused` (closing, once the terminal event is stored): the
  outcome and duration counted, the span ended.

Where the trace lives: on the RUNS message (a header the agent reads when it takes the message)
and, from then on, in this process's memory until the run ends. A run that waits in the
agent's database (its thread busy, no slot) and is started later by this process keeps its
trace; one started or ended by another process (promotion elsewhere, a sweeper after a crash)
starts no span of its own there — its metrics and logs are still complete.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from shared import subjects, tracing
from shared.errors import ErrorCode
from shared.logging import bind, unbind
from shared.metrics import Registry

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from services.agent.repository import StoredRun

__all__ = [
    "AGENT",
    "AgentMetrics",
    "name_agent",
    "outcome_of",
    "record_usage",
    "run_context",
    "run_ended",
    "run_refused",
    "taking",
]

log = logging.getLogger(__name__)

# Runs this process holds a span for; bounded, in case a run's end is announced elsewhere.
_MAX_TRACKED = 10_000
_OUTCOME_BY_CODE = {
    ErrorCode.AGENT_LOST.value: "lost",
    ErrorCode.RUN_TIMEOUT.value: "timeout",
    ErrorCode.AGENT_STOPPED.value: "stopped",
    ErrorCode.THREAD_NOT_FOUND.value: "refused",
    ErrorCode.THREAD_BUSY.value: "refused",
    ErrorCode.INTAKE_FAILED.value: "refused",
}
_KNOWN_CODES = frozenset(code.value for code in ErrorCode)
_RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = r = Registry()
        self.runs = r.counter(
            "agentwire_runs_total",
            "Runs ended, by outcome (completed, failed, cancelled, lost, timeout, stopped, "
            "refused)",
            ("outcome",),
        )
        self.failures = r.counter(
            "agentwire_run_failures_total", "Runs that did not complete, by error code", ("code",)
        )
        self.duration = r.histogram(
            "agentwire_run_duration_seconds",
            "From a run's start (or its recording, if it never started) to its end",
            ("outcome",),
            _RUN_BUCKETS,
        )
        self.queued = r.gauge(
            "agentwire_runs_queued", "Accepted messages no agent has taken yet (the RUNS queue)"
        )
        self.running = r.gauge("agentwire_runs_running", "Runs this process is working on")
        self.slots = r.gauge("agentwire_run_slots", "Run slots of this process")
        self.tokens = r.counter(
            "agentwire_tokens_total",
            "Tokens models spent on ended runs (gen_ai.token.type: input, output)",
            ("type",),
        )


AGENT = AgentMetrics()  # one agent node per process
_spans: OrderedDict[str, tuple[Span, dict[str, str]]] = OrderedDict()


def outcome_of(status: str, code: str | None) -> str:
    if status in ("completed", "cancelled"):
        return status
    return _OUTCOME_BY_CODE.get(code or "", "failed")


def _count(outcome: str, code: str | None) -> None:
    AGENT.runs.inc(outcome)
    if outcome not in ("completed", "cancelled"):
        AGENT.failures.inc(code if code in _KNOWN_CODES else "other")


_name = {"agent": "agentwire"}


def name_agent(agent_name: str) -> None:
    """The agent's name (``AGENT_NAME``), for its spans."""
    _name["agent"] = agent_name


@contextlib.contextmanager
def taking(subject: str, headers: Mapping[str, str] | None) -> Iterator[None]:
    """Around taking one RUNS message in (``agent.intake.<user>.<thread>.<run>``, read from
    the subject: the body may be unreadable): its ids bound, its spans begun (when tracing)."""
    parts = subject.split(".")
    if len(parts) != 5:  # not a gateway's message: the intake ends it
        yield
        return
    ids = {"user_id": parts[2], "thread_id": parts[3], "run_id": parts[4]}
    token = bind(**ids)
    try:
        with tracing.span(
            f"process {subjects.RUNS_STREAM}",
            kind="consumer",
            parent=tracing.extract(headers),
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": subjects.RUNS_STREAM,
                "messaging.message.id": ids["run_id"],
            },
        ) as process:
            if process is not None:
                _begin_run(ids)
            yield
    finally:
        unbind(token)


def _begin_run(ids: dict[str, str]) -> None:
    run_id = ids["run_id"]
    if run_id in _spans:  # a redelivered message: the first span stands for the run
        return
    agent_name = _name["agent"]
    span = tracing.start_span(
        f"invoke_agent {agent_name}",
        kind="internal",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": agent_name,
            "gen_ai.conversation.id": ids["thread_id"],
            "agentwire.run_id": run_id,
            "enduser.id": ids["user_id"],
        },
    )
    if span is None:
        return
    _spans[run_id] = (span, ids)
    while len(_spans) > _MAX_TRACKED:
        _, (dropped, _ids) = _spans.popitem(last=False)
        dropped.set_attribute("agentwire.ended_elsewhere", True)
        dropped.end()


def run_context(run_id: str) -> contextvars.Context:
    """The context a run's task runs in: its ids for log lines, its span for its children.

    Whatever the task's creator had bound (another run's ids and span, when a run's end
    promotes the next) is left behind."""
    context = contextvars.copy_context()
    held = _spans.get(run_id)
    context.run(bind, True, **(held[1] if held is not None else {"run_id": run_id}))
    if tracing.enabled():
        context.run(_attach, held[0] if held is not None else None)
    return context


def _attach(span: Span | None) -> None:
    from opentelemetry import context, trace

    # Attached for the copied context's life (the run's task): no detach needed.
    context.attach(trace.set_span_in_context(span) if span is not None else context.Context())


def run_ended(run: StoredRun) -> None:
    """The run's terminal event is stored: count it, end its span."""
    outcome = outcome_of(run.status.value, run.error_code)
    _count(outcome, run.error_code)
    began = run.started_at or run.created_at
    if began:
        AGENT.duration.observe(max(0.0, time.time() - began), outcome)
    log.info("run %s ended: %s", run.id, outcome if run.error_code is None else run.error_code)
    usage = _usage(run)
    for kind, tokens in usage.items():
        AGENT.tokens.inc(kind, amount=tokens)
    held = _spans.pop(run.id, None)
    if held is not None:
        span = held[0]
        span.set_attribute("agentwire.outcome", outcome)
        for kind, tokens in usage.items():
            span.set_attribute(f"gen_ai.usage.{kind}_tokens", tokens)
        if outcome != "completed" and outcome != "cancelled":
            tracing.fail(span, run.error_code or outcome)
        span.end()


def _usage(run: StoredRun) -> dict[str, int]:
    """The tokens a model spent on the run, as recorded with its end (none: no model)."""
    found = {
        "input": getattr(run, "input_tokens", None),
        "output": getattr(run, "output_tokens", None),
    }
    return {kind: tokens for kind, tokens in found.items() if tokens}


def run_refused(run_id: str, code: str) -> None:
    """A run ended without being recorded (a thread not the user's, an unreadable message)."""
    _count(_OUTCOME_BY_CODE.get(code, "failed"), code)
    held = _spans.pop(run_id, None)
    if held is not None:
        tracing.fail(held[0], code)
        held[0].end()


def record_usage(
    *, model: str, input_tokens: int | None = None, output_tokens: int | None = None, **extra: Any
) -> None:
    """For a planner that calls a model: the GenAI attributes on the current span (if any)."""
    if not tracing.enabled():
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    span.set_attribute("gen_ai.request.model", model)
    if input_tokens is not None:
        span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
    if output_tokens is not None:
        span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
    for key, value in extra.items():
        span.set_attribute(f"gen_ai.{key}", value)
