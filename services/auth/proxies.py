"""Which address a request comes from: the TCP peer, or what trusted proxies say it is.

``X-Forwarded-For`` is whatever the client wants it to be, unless a proxy we trust wrote it. So
the header is read only when the TCP peer is a trusted proxy, and then from the right: each
trusted proxy appends the address it was connected from, so the right-most entry that is not
itself a trusted proxy is the client as the outermost trusted proxy saw it. Entries left of that
were written by the client (or by proxies we do not know) and are ignored::

    TRUSTED_PROXIES=10.0.0.0/8, peer 10.0.0.5
    X-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.0.0.7   ->  203.0.113.9

An entry that is not an address stops the walk at the last trusted hop, so a key for the limits
is always an address some trusted machine vouched for, never a string the client made up.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["Network", "TrustedProxies", "parse_networks"]

Network = IPv4Network | IPv6Network
_Address = IPv4Address | IPv6Address


def parse_networks(raw: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.1"`` -> networks; raise ValueError naming an entry that is neither."""
    networks = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _address(text: str) -> _Address | None:
    """An address as a peer or a proxy writes it: ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # One client, one key: ``::ffff:192.0.2.1`` is ``192.0.2.1`` reached over IPv6.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self._networks = tuple(networks)

    def trusts(self, address: _Address) -> bool:
        return any(address in network for network in self._networks)

    def client_address(self, peer: str, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address, from the TCP ``peer`` and every ``X-Forwarded-For`` value."""
        hop = _address(peer)
        if hop is None:
            return peer  # not an IP (a Unix socket, a test client): nothing to trust
        if not self.trusts(hop):
            return str(hop)
        entries = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
        for entry in reversed(entries):
            listed = _address(entry)
            if listed is None:
                break
            hop = listed
            if not self.trusts(hop):
                break
        return str(hop)
