"""Tailnet addresses and MagicDNS names for devices.

IPv4 comes from 100.64.0.0/10 minus 100.115.92.0/23 (the range Tailscale leaves to
ChromeOS containers), IPv6 from fd7a:115c:a1e0::/48. The first candidate is derived from
the machine key, so a machine that is deleted and comes back gets the same address when it
is still free; later candidates probe linearly.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator

CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
RESERVED = ipaddress.IPv4Network("100.115.92.0/23")
ULA = ipaddress.IPv6Network("fd7a:115c:a1e0::/48")
_LABEL = re.compile(r"[^a-z0-9-]+")


def _usable(addr: ipaddress.IPv4Address) -> bool:
    last = int(addr) & 0xFF
    return addr not in RESERVED and last not in (0, 255)


def address_candidates(machine_key: str) -> Iterator[tuple[str, str]]:
    """(ipv4, ipv6) pairs for ``machine_key``, best first; every usable address once."""
    size = CGNAT.num_addresses
    start = int.from_bytes(hashlib.sha256(machine_key.encode()).digest()[:8], "big") % size
    base = int(CGNAT.network_address)
    for step in range(size):
        v4 = ipaddress.IPv4Address(base + (start + step) % size)
        if _usable(v4):
            v6 = ipaddress.IPv6Address(int(ULA.network_address) + (int(v4) - base))
            yield str(v4), str(v6)


def sanitize_hostname(hostname: str) -> str:
    """A DNS label from a hostname: lower case, [a-z0-9-], at most 63 characters."""
    label = _LABEL.sub("-", hostname.strip().lower().split(".")[0]).strip("-")
    return label[:63].strip("-") or "device"


def name_candidates(hostname: str) -> Iterator[str]:
    """``host``, ``host-1``, ``host-2``, ... — the first free one becomes the given name."""
    label = sanitize_hostname(hostname)
    yield label
    n = 1
    while True:
        suffix = f"-{n}"
        yield label[: 63 - len(suffix)] + suffix
        n += 1


def fqdn(given_name: str, domain: str) -> str:
    """The MagicDNS name with the trailing dot, as in Tailscale's netmap."""
    return f"{given_name}.{domain}."
