"""Traces with OpenTelemetry: one trace per chat message, across the services, over NATS headers.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: then nothing of the SDK is imported, no span
object is made (every helper here answers None or does nothing after one boolean test), and no
exporter runs. On, spans go to ``<endpoint>/v1/traces`` by OTLP/HTTP (protobuf) in batches.

The context travels in a W3C ``traceparent`` header on the NATS messages that carry a message's
work: the RUNS message the gateway stores (read by the agent when it takes the message), and
each tool call request (read by the tool runner). Span names and attributes follow the
OpenTelemetry messaging conventions (``send``/``process`` + destination, ``messaging.system =
nats``) and the GenAI ones for the agent (``invoke_agent``, ``execute_tool``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "configure",
    "context_of",
    "current_trace_id",
    "enabled",
    "extract",
    "fail",
    "inject",
    "shutdown",
    "span",
    "start_span",
    "trace_id_of",
    "use",
]

_state: dict[str, Any] = {"tracer": None, "provider": None}
_BATCH_DELAY_MS = 500  # spans reach the collector within about a second


def enabled() -> bool:
    return _state["tracer"] is not None


def configure(service: str, endpoint: str | None) -> None:
    """Install the SDK and the OTLP/HTTP exporter when ``endpoint`` is set; else stay off."""
    if not endpoint:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": f"agentwire-{service.replace('_', '-')}"})
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=_BATCH_DELAY_MS))
    trace.set_tracer_provider(provider)
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer("agentwire")


def shutdown() -> None:
    """Send what is still batched (on the way out)."""
    provider = _state["provider"]
    if provider is not None:
        provider.shutdown()


def _kind(name: str) -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind[name.upper()]


def start_span(
    name: str,
    *,
    kind: str = "internal",
    parent: Context | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Span | None:
    """A started span (None when tracing is off); the caller ends it."""
    tracer: Tracer | None = _state["tracer"]
    if tracer is None:
        return None
    return tracer.start_span(name, context=parent, kind=_kind(kind), attributes=attributes)


@contextlib.contextmanager
def use(span: Span | None) -> Iterator[Span | None]:
    """Make ``span`` the current one for the block (its children, injected headers, log lines)."""
    if span is None:
        yield None
        return
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        context.detach(token)


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: str = "internal",
    parent: Context | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[Span | None]:
    """A span around a block, current within it, ended (with any exception) after it."""
    started = start_span(name, kind=kind, parent=parent, attributes=attributes)
    if started is None:
        yield None
        return
    with use(started):
        try:
            yield started
        except BaseException as exc:
            from opentelemetry.trace import Status, StatusCode

            started.record_exception(exc)
            started.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            started.end()


def fail(span: Span | None, description: str) -> None:
    """Mark ``span`` as failed (an outcome that is not an exception)."""
    if span is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, description))


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's ``traceparent`` to NATS ``headers`` (unchanged when off)."""
    if _state["tracer"] is not None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        TraceContextTextMapPropagator().inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> Context | None:
    """The context a message's ``traceparent`` names (None when off or absent)."""
    if _state["tracer"] is None or not headers or "traceparent" not in headers:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(dict(headers))


def context_of(span: Span | None) -> Context | None:
    """A context whose current span is ``span``: the parent for spans made elsewhere."""
    if span is None:
        return None
    from opentelemetry import trace

    return trace.set_span_in_context(span)


def trace_id_of(span: Span | None) -> str | None:
    """The span's trace id as 32 hex digits (None when off)."""
    if span is None:
        return None
    return format(span.get_span_context().trace_id, "032x")


def current_trace_id() -> str | None:
    """The current span's trace id, for log lines (None when off or outside any span)."""
    if _state["tracer"] is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
