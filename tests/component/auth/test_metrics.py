"""The auth service's /metrics: logins counted by outcome, with no account in any label."""

from __future__ import annotations

from collections.abc import Callable

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from services.auth.settings import AuthSettings
from tests.component.auth.support import EMAIL, log_in, register

MakeClient = Callable[[AuthSettings], AsyncTestClient]


async def _logins(client: AsyncTestClient) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "agentwire_logins"
        for sample in family.samples
        if sample.name == "agentwire_logins_total"
    }


async def test_logins_are_counted_by_outcome(
    sqlite_settings: AuthSettings, make_client: MakeClient
) -> None:
    async with make_client(sqlite_settings) as client:
        before = await _logins(client)
        await register(client)
        assert (await log_in(client)).status_code == 200
        assert (await log_in(client, password="not the password")).status_code == 401

        after = await _logins(client)
        assert after.get("ok", 0) - before.get("ok", 0) == 1
        assert after["invalid_credentials"] - before.get("invalid_credentials", 0) == 1
        assert EMAIL not in (await client.get("/metrics")).text
