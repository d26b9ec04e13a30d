"""X-Forwarded-For moves the per-address limit only when the TCP peer is a trusted proxy.

Real connections to uvicorn on 127.0.0.1, configured as ``python -m services.auth`` serves it:
the peer every request comes from is 127.0.0.1, and only TRUSTED_PROXIES says whether that is a
proxy whose X-Forwarded-For is believed.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from services.auth.proxies import parse_networks
from services.auth.settings import AuthSettings
from tests.component.auth.conftest import Serve

PER_ADDRESS = 5
ADDRESS_MESSAGE = "too many failed logins from this address"


async def serve_with(
    serve: Serve, make_settings: Callable[..., AuthSettings], sqlite_url: str, trusted: str
) -> str:
    settings = make_settings(
        database_url=sqlite_url,
        login_max_per_address=PER_ADDRESS,
        trusted_proxies=parse_networks(trusted),
    )
    return await serve(settings)


async def guess(client: httpx.AsyncClient, n: int, forwarded_for: str) -> httpx.Response:
    """A wrong password at a fresh account, so only the address limit can refuse it."""
    return await client.post(
        "/auth/login",
        json={"email": f"user{n}@example.com", "password": "wrong guess"},
        headers={"X-Forwarded-For": forwarded_for},
    )


def limited_by_address(response: httpx.Response) -> bool:
    return response.status_code == 429 and response.json()["error"]["message"].startswith(
        ADDRESS_MESSAGE
    )


async def test_without_trusted_proxies_a_forged_header_does_not_escape_the_limit(
    serve: Serve, make_settings: Callable[..., AuthSettings], sqlite_url: str
) -> None:
    url = await serve_with(serve, make_settings, sqlite_url, trusted="")
    async with httpx.AsyncClient(base_url=url) as client:
        for n in range(PER_ADDRESS):
            assert (await guess(client, n, f"203.0.113.{n}")).status_code == 401

        assert limited_by_address(await guess(client, 99, "203.0.113.99"))


async def test_a_peer_outside_the_trusted_networks_is_not_believed(
    serve: Serve, make_settings: Callable[..., AuthSettings], sqlite_url: str
) -> None:
    url = await serve_with(serve, make_settings, sqlite_url, trusted="10.0.0.0/8")
    async with httpx.AsyncClient(base_url=url) as client:
        for n in range(PER_ADDRESS):
            await guess(client, n, f"203.0.113.{n}")

        assert limited_by_address(await guess(client, 99, "203.0.113.99"))


async def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(
    serve: Serve, make_settings: Callable[..., AuthSettings], sqlite_url: str
) -> None:
    url = await serve_with(serve, make_settings, sqlite_url, trusted="127.0.0.1")
    async with httpx.AsyncClient(base_url=url) as client:
        for n in range(PER_ADDRESS):
            assert (await guess(client, n, "203.0.113.9")).status_code == 401

        limited = await guess(client, 98, "203.0.113.9")
        # The client wrote "203.0.113.10" itself; the proxy appended where it really came from.
        still_limited = await guess(client, 99, "203.0.113.10, 203.0.113.9")
        neighbour = await guess(client, 100, "203.0.113.10")

    assert limited_by_address(limited) and "retry-after" in limited.headers
    assert limited_by_address(still_limited)
    assert neighbour.status_code == 401  # another client behind the same proxy: not limited
