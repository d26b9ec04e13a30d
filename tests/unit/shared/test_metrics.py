"""shared.metrics: plain counters rendered in the Prometheus text format when scraped."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import Registry


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


async def test_counters_gauges_and_histograms_render_as_prometheus_text() -> None:
    registry = Registry(process=False)
    delivered = registry.counter("agentwire_events_delivered_total", "events")
    closes = registry.counter("agentwire_socket_closes_total", "closes", ("code",))
    lag = registry.histogram("agentwire_delivery_lag_seconds", "lag", buckets=(0.01, 0.1))
    registry.gauge("agentwire_sockets_open", "sockets", lambda: 3)

    delivered.value += 5
    closes.inc("4008")
    closes.inc("4008")
    lag.observe(0.005)
    lag.observe(0.05)
    lag.observe(7.0)

    samples = _samples(await registry.render())
    assert samples[("agentwire_events_delivered_total", ())] == 5
    assert samples[("agentwire_socket_closes_total", (("code", "4008"),))] == 2
    assert samples[("agentwire_sockets_open", ())] == 3
    assert samples[("agentwire_delivery_lag_seconds_bucket", (("le", "0.01"),))] == 1
    assert samples[("agentwire_delivery_lag_seconds_bucket", (("le", "0.1"),))] == 2
    assert samples[("agentwire_delivery_lag_seconds_bucket", (("le", "+Inf"),))] == 3
    assert samples[("agentwire_delivery_lag_seconds_count", ())] == 3


async def test_a_failing_refresh_leaves_the_metrics_readable() -> None:
    registry = Registry(process=False)
    queued = registry.gauge("agentwire_runs_queued", "queued")
    queued.value = 4

    async def broken() -> None:
        raise ConnectionError("nats is away")

    registry.before_scrape(broken)
    assert _samples(await registry.render())[("agentwire_runs_queued", ())] == 4
