"""The client address: X-Forwarded-For believed only as far as trusted proxies wrote it."""

from __future__ import annotations

import re

import pytest

from services.auth.proxies import TrustedProxies, parse_networks

PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 192.0.2.1"))


def test_with_no_trusted_proxy_the_header_is_ignored() -> None:
    assert TrustedProxies().client_address("10.0.0.5", ["203.0.113.9"]) == "10.0.0.5"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_another_address() -> None:
    assert PROXIES.client_address("198.51.100.1", ["203.0.113.9"]) == "198.51.100.1"


def test_behind_a_trusted_proxy_the_client_is_the_address_it_appended() -> None:
    assert PROXIES.client_address("10.0.0.5", ["203.0.113.9"]) == "203.0.113.9"


def test_entries_the_client_wrote_itself_are_skipped() -> None:
    # The client sent "6.6.6.6"; the proxy appended the address it really came from.
    assert PROXIES.client_address("10.0.0.5", ["6.6.6.6, 203.0.113.9"]) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    forwarded = ["6.6.6.6, 203.0.113.9", "10.0.0.7, 192.0.2.1"]  # two headers: one list

    assert PROXIES.client_address("10.0.0.5", forwarded) == "203.0.113.9"


def test_only_trusted_hops_and_no_header_leave_the_left_most_proxy() -> None:
    assert PROXIES.client_address("10.0.0.5", []) == "10.0.0.5"
    assert PROXIES.client_address("10.0.0.5", ["10.0.0.9"]) == "10.0.0.9"


@pytest.mark.parametrize("garbage", ["unknown", "not an address", "_hidden"])
def test_an_entry_that_is_not_an_address_stops_at_the_last_trusted_hop(garbage: str) -> None:
    # Never a key the client made up: the limits would be theirs to reset at will.
    assert PROXIES.client_address("10.0.0.5", [f"203.0.113.9, {garbage}"]) == "10.0.0.5"


@pytest.mark.parametrize(
    ("entry", "client"),
    [
        ("203.0.113.9:4711", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
    ],
)
def test_addresses_are_read_with_or_without_a_port_and_written_one_way(
    entry: str, client: str
) -> None:
    assert PROXIES.client_address("10.0.0.5", [entry]) == client


def test_a_peer_that_is_no_ip_address_is_kept_as_it_is() -> None:
    assert PROXIES.client_address("testclient", ["203.0.113.9"]) == "testclient"


def test_an_ipv6_proxy_network_is_trusted_too() -> None:
    proxies = TrustedProxies(parse_networks("fd00::/8"))

    assert proxies.client_address("fd00::1", ["203.0.113.9"]) == "203.0.113.9"


def test_a_setting_that_is_not_an_address_is_refused_naming_the_entry() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300'")):
        parse_networks("10.0.0.0/8, 10.0.0.300")
