"""Ports, protocols and ``alias:ports`` destinations, with the server's error wording."""

from __future__ import annotations

import functools
from dataclasses import dataclass

ALL_PORTS: tuple[tuple[int, int], ...] = ((0, 65535),)

PROTOCOLS: dict[str, int] = {
    "icmp": 1,
    "igmp": 2,
    "ipv4": 4,
    "ip-in-ip": 4,
    "tcp": 6,
    "egp": 8,
    "igp": 9,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "sctp": 132,
    "fc": 133,
}

PORTED_PROTOCOLS = frozenset({6, 17, 132})


class PortError(ValueError):
    """A port or protocol spec the server rejects; ``str()`` is the server's text."""


def _port(text: str, which: str) -> int:
    if not text.isdigit():
        raise PortError(f"invalid {which} integer")
    value = int(text)
    if value > 65535:
        raise PortError(f"invalid {which} integer")
    return value


@functools.lru_cache(maxsize=1 << 14)
def parse_ports(spec: str) -> tuple[tuple[int, int], ...]:
    """``*``, ``22``, ``80,443``, ``1000-2000`` -> ((first, last), ...)."""
    if spec == "*":
        return ALL_PORTS
    out: list[tuple[int, int]] = []
    for part in spec.split(","):
        first_s, dash, last_s = part.partition("-")
        first = _port(first_s, "first")
        last = _port(last_s, "last") if dash else first
        if first == 0:
            raise PortError("first port must be >0, or use '*'")
        if last < first:
            raise PortError("last port must be >= first port")
        out.append((first, last))
    return tuple(out)


@functools.lru_cache(maxsize=1 << 14)
def parse_proto(text: str) -> tuple[int, ...]:
    """An ACL/grant protocol name or IANA number -> IPProto list (empty = default)."""
    s = text.strip().lower()
    if s in ("", "*"):
        return ()
    if s in PROTOCOLS:
        return (PROTOCOLS[s],)
    if s.isdigit() and not (len(s) > 1 and s[0] == "0") and 0 < int(s) <= 255:
        return (int(s),)
    raise PortError(f"proto name {text!r} not known; use protocol number 0-255 or protocol name")


@dataclass(frozen=True, slots=True)
class DstSpec:
    """An ACL destination ``alias:ports`` split at the last colon."""

    alias: str
    ports: tuple[tuple[int, int], ...]


def split_dst(text: str) -> tuple[str, str]:
    """Split ``alias:ports``; ``[v6]:port`` keeps the brackets off the alias."""
    s = text.strip()
    if s.startswith("["):
        close = s.find("]")
        if close != -1 and s[close + 1 : close + 2] == ":":
            return s[1:close], s[close + 2 :]
    alias, colon, ports = s.rpartition(":")
    if not colon:
        raise PortError(f"dst={text!r}: missing port (use {text}:*)")
    return alias, ports


@functools.lru_cache(maxsize=1 << 14)
def parse_dst(text: str) -> DstSpec:
    alias, ports = split_dst(text)
    try:
        return DstSpec(alias, parse_ports(ports))
    except PortError as exc:
        raise PortError(f'dst="{text}": port range "{ports}": {exc}') from None


@dataclass(frozen=True, slots=True)
class IpSpec:
    """One grant ``ip`` entry: protocol numbers (empty = default) and port ranges."""

    proto: tuple[int, ...]
    ports: tuple[tuple[int, int], ...]


@functools.lru_cache(maxsize=1 << 14)
def parse_ip_spec(text: str) -> IpSpec:
    s = text.strip()
    if s == "*":
        return IpSpec((), ALL_PORTS)
    if ":" not in s:
        try:
            return IpSpec((), parse_ports(s))
        except PortError as exc:
            raise PortError(f'port range "{s}": {exc}') from None
    proto_s, _, ports_s = s.partition(":")
    if ":" in ports_s:
        raise PortError("expected only one colon in Internet protocol and port type")
    proto = parse_proto(proto_s)
    try:
        ports = parse_ports(ports_s)
    except PortError as exc:
        raise PortError(f'port range "{ports_s}": {exc}') from None
    return IpSpec(proto, ports)
