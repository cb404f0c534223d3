"""Cryptokey routing: which peer's AllowedIPs hold an address (longest prefix wins).

Outgoing, the destination picks the peer; incoming, a packet whose source is not in the
AllowedIPs of the peer that sent it is dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from tailcfg.node.packets import IPAddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str | Network]) -> tuple[Network, ...]:
    """``"100.64.0.1"`` is ``100.64.0.1/32``; host bits of a CIDR are masked off."""
    return tuple(
        e if not isinstance(e, str) else ipaddress.ip_network(e.strip(), strict=False)
        for e in entries
    )


class RouteTable:
    """Peers keyed by public key, each with its AllowedIPs."""

    def __init__(self) -> None:
        self._by_peer: dict[bytes, tuple[Network, ...]] = {}
        self._routes: list[tuple[Network, bytes]] = []

    def set(self, peer: bytes, networks: Iterable[Network]) -> None:
        self._by_peer[peer] = tuple(networks)
        self._rebuild()

    def remove(self, peer: bytes) -> None:
        self._by_peer.pop(peer, None)
        self._rebuild()

    def _rebuild(self) -> None:
        routes = [(net, peer) for peer, nets in self._by_peer.items() for net in nets]
        # Longest prefix first; a prefix claimed twice goes to the peer that came last.
        routes.reverse()
        routes.sort(key=lambda item: item[0].prefixlen, reverse=True)
        self._routes = routes

    def lookup(self, address: IPAddress) -> bytes | None:
        """The peer to send a packet for ``address`` to."""
        for net, peer in self._routes:
            if net.version == address.version and address in net:
                return peer
        return None

    def allows(self, peer: bytes, address: IPAddress) -> bool:
        """Whether ``address`` may be the source of a packet from ``peer``."""
        return self.lookup(address) == peer

    def networks(self, peer: bytes) -> tuple[Network, ...]:
        return self._by_peer.get(peer, ())
