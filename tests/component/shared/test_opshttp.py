"""The agent's and tool runner's listener: liveness, readiness with its reason, metrics."""

from __future__ import annotations

import socket

import httpx
import pytest

from shared.metrics import Registry
from shared.opshttp import OpsServer
from shared.settings import ObservabilitySettings, SettingsError


async def test_health_readiness_and_metrics_over_http() -> None:
    problem: list[str | None] = ["NATS is away (reconnecting)"]

    async def ready() -> str | None:
        return problem[0]

    registry = Registry(process=False)
    registry.counter("agentwire_runs_total", "runs", ("outcome",)).inc("completed")
    server = OpsServer(registry, ready)
    await server.start(ObservabilitySettings(), "AGENT_HTTP_PORT")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["reason"] == "NATS is away (reconnecting)"
            problem[0] = None
            assert (await http.get("/readyz")).status_code == 200
            metrics = await http.get("/metrics")
            assert 'agentwire_runs_total{outcome="completed"} 1.0' in metrics.text
            assert (await http.get("/nothing")).status_code == 404
    finally:
        await server.stop()


async def test_a_taken_default_port_falls_back_and_a_taken_explicit_one_refuses() -> None:
    async def ready() -> str | None:
        return None

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fallback = OpsServer(None, ready)
        await fallback.start(ObservabilitySettings(http_port=port), "AGENT_HTTP_PORT")
        assert fallback.port not in (0, port)
        await fallback.stop()
        explicit = ObservabilitySettings(http_port=port, http_port_explicit=True)
        with pytest.raises(SettingsError, match="AGENT_HTTP_PORT"):
            await OpsServer(None, ready).start(explicit, "AGENT_HTTP_PORT")
