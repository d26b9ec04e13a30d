"""The gateway's metrics (``GET /metrics``): sockets, delivery, resumes, closes, the intake.

The hot path pays integers only (see :mod:`shared.metrics`):

- events delivered: the transport counts each flush's event frames (frames that start with
  ``{"seq":``, which only events do) in the loop it already runs over them, and adds them to a
  plain int, once per socket per loop turn (measured: ~90 ns per one-frame flush);
- delivery lag: one live event in :data:`LAG_SAMPLE_EVERY` is sampled as it reaches the gateway,
  and measured just after that loop turn's writes (``call_soon`` runs after the flusher's
  callback): its ``timestamp`` (set by the producer) to the write, so publish, store, republish,
  fan-out and the write itself are all in it;
- the rest (sockets, closes, resumes, submissions) happen per socket or per message.

``METRICS_ENABLED=false`` turns the hot path's counting off (the figure ``./dev bench`` compares)
and ``/metrics`` answers 404.

With tracing on, the deliveries that open and close a run (``agent_started``, the terminal
event) become ``process live.user.*.events`` spans in the run's trace, read from the
``traceparent`` the producer stored with the event: when its user's sockets got the run's first
and last events. Every other event costs one boolean test (``tracing``); with tracing off, that
is all any event costs.
"""

from __future__ import annotations

import asyncio
import time

from shared import subjects, tracing
from shared.metrics import Registry
from shared.natsclient import header

__all__ = ["EVENT_FRAME", "GATEWAY", "LAG_SAMPLE_EVERY", "GatewayMetrics"]

EVENT_FRAME = b'{"seq":'  # with_seq splices the seq first; no other frame starts so
LAG_SAMPLE_EVERY = 64
_OFF = 1 << 62  # a countdown that never runs out
_STAMP = b'"timestamp":'
# Seconds: sub-millisecond on a quiet local stack, seconds when something backs up.
_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0)  # fmt: skip


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = r = Registry()
        self.enabled = True
        self.sockets_open = r.gauge("agentwire_sockets_open", "WebSockets open on this gateway")
        self.events_delivered = r.counter(
            "agentwire_events_delivered_total",
            "Event frames written to sockets (live and replayed)",
        )
        self.delivery_lag = r.histogram(
            "agentwire_delivery_lag_seconds",
            f"From an event's timestamp to its write to the sockets (1 live event in "
            f"{LAG_SAMPLE_EVERY} sampled)",
            buckets=_LAG_BUCKETS,
        )
        self.resumes = r.counter(
            "agentwire_resumes_total", "Resumes asked for by clients (after_seq or a resume frame)"
        )
        self.repairs = r.counter(
            "agentwire_repairs_total", "Replays of missed live events (a gap, a NATS reconnect)"
        )
        self.closes = r.counter(
            "agentwire_socket_closes_total", "WebSockets closed, by close code", ("code",)
        )
        self.messages = r.counter(
            "agentwire_messages_total",
            "Chat messages submitted (accepted: stored for the agents; not_stored; refused)",
            ("outcome",),
        )
        self.intake_seconds = r.histogram(
            "agentwire_intake_seconds", "From a message's submission to its run_accepted"
        )
        self.until_sample = LAG_SAMPLE_EVERY
        self.tracing = False  # set once tracing is configured

    def trace_delivery(self, payload: bytes, headers: bytes | None, seq: int, sockets: int) -> None:
        """A run's first or last event was handed to ``sockets`` sockets: its span."""
        if not payload.startswith(_RUN_BOUNDARY):
            return
        traceparent = header(headers, b"traceparent")
        if traceparent is None:
            return
        kind = payload[9 : payload.find(b'"', 9)].decode()
        span = tracing.start_span(
            f"process {subjects.live_user_events_all()}",
            kind="consumer",
            parent=tracing.extract({"traceparent": traceparent.decode()}),
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.template": subjects.live_user_events_all(),
                "messaging.message.id": str(seq),
                "agentwire.event_type": kind,
                "agentwire.sockets": sockets,
            },
        )
        if span is not None:
            span.end()

    def enable(self, on: bool) -> None:
        self.enabled = on
        self.until_sample = LAG_SAMPLE_EVERY if on else _OFF

    def sample_lag(self, payload: bytes) -> None:
        """The sample is due: measure ``payload``'s lag once this loop turn's writes are done."""
        self.until_sample = LAG_SAMPLE_EVERY
        stamp = _timestamp(payload)
        if stamp is not None:
            asyncio.get_running_loop().call_soon(self._observe_lag, stamp)

    def _observe_lag(self, stamp: float) -> None:
        self.delivery_lag.observe(max(0.0, time.time() - stamp))


_RUN_BOUNDARY = tuple(
    f'{{"type":"{kind}"'.encode()
    for kind in ("agent_started", "agent_completed", "agent_failed", "agent_cancelled")
)


def _timestamp(payload: bytes) -> float | None:
    """The ``timestamp`` of an event's JSON (it is the last of its data's fields)."""
    at = payload.rfind(_STAMP)
    if at < 0:
        return None
    start = at + len(_STAMP)
    end = start
    while end < len(payload) and payload[end] in b"0123456789.eE+-":
        end += 1
    try:
        return float(payload[start:end])
    except ValueError:
        return None


GATEWAY = GatewayMetrics()  # one gateway per process
