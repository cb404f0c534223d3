"""IP addresses as integer intervals, and their rendering in Tailscale's wire form.

An :data:`Interval` is ``(version, first, last)`` with ``version`` 4 or 6 and both ends
inclusive integers. Wire strings are what the server sends in ``SrcIPs`` and
``DstPorts[].IP``: a bare address for one address, ``a/n`` for an exact prefix,
``first-last`` for any other range, ``*`` for everything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Interval = tuple[int, int, int]

_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}

# `*` as a source: CGNAT minus the ChromeOS VM range, and Tailscale's ULA range.
WILDCARD_SRC: tuple[str, ...] = (
    "100.64.0.0-100.115.91.255",
    "100.115.94.0-100.127.255.255",
    "fd7a:115c:a1e0::/48",
)

# autogroup:internet as a destination, exactly as the server writes it.
INTERNET_DST: tuple[str, ...] = (
    "0.0.0.0-9.255.255.255",
    "11.0.0.0-100.63.255.255",
    "100.128.0.0-169.253.255.255",
    "169.255.0.0-172.15.255.255",
    "172.32.0.0-192.167.255.255",
    "192.169.0.0-255.255.255.255",
    "2000::-3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)

CGNAT: Interval = (4, 0x64400000, 0x647FFFFF)
TAILSCALE_ULA: Interval = (6, 0xFD7A115CA1E0 << 80, (0xFD7A115CA1E0 << 80) | ((1 << 80) - 1))


def _v4(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not part.isdigit() or not part.isascii() or (len(part) > 1 and part[0] == "0"):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def parse_addr(text: str) -> tuple[int, int] | None:
    """``(version, int)`` of a bare IPv4/IPv6 address, or None."""
    if ":" not in text:
        v4 = _v4(text)
        return None if v4 is None else (4, v4)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    return addr.version, int(addr)


def parse_interval(text: str) -> Interval | None:
    """Parse an address, a CIDR (host bits allowed) or an ``a-b`` range; None if neither."""
    if text == "*":
        return None
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        return net.version, int(net.network_address), int(net.broadcast_address)
    if "-" in text:
        lo_s, _, hi_s = text.partition("-")
        lo, hi = parse_addr(lo_s), parse_addr(hi_s)
        if lo is None or hi is None or lo[0] != hi[0] or lo[1] > hi[1]:
            return None
        return lo[0], lo[1], hi[1]
    one = parse_addr(text)
    return None if one is None else (one[0], one[1], one[1])


def is_cidr_literal(text: str) -> bool:
    """A literal written as a prefix (``/n``), even ``/32``."""
    return "/" in text and parse_interval(text) is not None


def addr_str(version: int, value: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


def _prefix_len(version: int, lo: int, hi: int) -> int | None:
    size = hi - lo + 1
    if size & (size - 1) or lo & (size - 1):
        return None
    bits = 32 if version == 4 else 128
    return bits - (size.bit_length() - 1)


def render(iv: Interval) -> str:
    """Wire form of one interval: address, exact prefix, or range."""
    version, lo, hi = iv
    if lo == hi:
        return addr_str(version, lo)
    plen = _prefix_len(version, lo, hi)
    if plen is not None:
        return f"{addr_str(version, lo)}/{plen}"
    return f"{addr_str(version, lo)}-{addr_str(version, hi)}"


def tokens(intervals: Iterable[Interval]) -> list[str]:
    """Wire strings of distinct intervals in address order, each kept on its own.

    The server lists every device address separately (adjacent addresses are not
    joined into a range) and keeps literal prefixes as written.
    """
    return [render(iv) for iv in sorted(set(intervals))]


def render_prefix(iv: Interval) -> str:
    """``a/n`` form (``/32`` and ``/128`` kept), for CapGrant ``Dsts``."""
    version, lo, hi = iv
    plen = _prefix_len(version, lo, hi)
    return f"{addr_str(version, lo)}/{plen}"


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted union; overlapping and adjacent intervals are joined."""
    items = sorted(intervals)
    if not items:
        return []
    out: list[Interval] = []
    cv, clo, chi = items[0]
    for v, lo, hi in items:
        if v == cv and lo <= chi + 1:
            if hi > chi:
                chi = hi
        else:
            out.append((cv, clo, chi))
            cv, clo, chi = v, lo, hi
    out.append((cv, clo, chi))
    return out


def subtract(base: Iterable[Interval], minus: Iterable[Interval]) -> list[Interval]:
    """``base`` without the addresses of ``minus`` (both merged first), in address order."""
    out: list[Interval] = []
    cuts = merge(minus)
    for v, lo, hi in merge(base):
        for cv, clo, chi in cuts:
            if cv != v or chi < lo or clo > hi:
                continue
            if clo > lo:
                out.append((v, lo, clo - 1))
            lo = chi + 1
            if lo > hi:
                break
        if lo <= hi:
            out.append((v, lo, hi))
    return out


def split_prefixes(iv: Interval) -> list[Interval]:
    """Cover one interval with the fewest exact prefixes, in address order."""
    version, lo, hi = iv
    out: list[Interval] = []
    while lo <= hi:
        size = lo & -lo if lo else _MAX[version] + 1
        while size > hi - lo + 1:
            size >>= 1
        out.append((version, lo, lo + size - 1))
        lo += size
    return out


def overlaps(a: Interval, b: Interval) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


def contains(outer: Interval, inner: Interval) -> bool:
    return outer[0] == inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]


def is_exit_route(text: str) -> bool:
    iv = parse_interval(text)
    return iv is not None and iv[1] == 0 and iv[2] == _MAX[iv[0]]


def canonical(text: str) -> str:
    """Normalise an address or prefix literal (``10.1.2.3/8`` -> ``10.0.0.0/8``)."""
    iv = parse_interval(text)
    if iv is None:
        return text
    if "/" in text:
        return render_prefix(iv)
    return render(iv)
