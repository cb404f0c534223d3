"""Ports, protocols and ``alias:ports`` destinations, with the server's error wording.

The one parser of these strings for both the validator and the engine. The strict pieces
read a string exactly as the server does and raise :class:`PortError` (a ``ValueError``)
with the server's text:

- ``parse_ports(spec)``: ``*``, ``22``, ``80,443``, ``1000-2000`` -> ((first, last), ...);
- ``proto_number(text)``: a protocol name or IANA number -> its number;
- ``split_alias_ports(dst)``: ``alias:ports`` at the last colon (``[v6]:ports`` too);
- ``split_ip_spec(spec)``: a grant ``ip`` entry -> (protocol text or None, ports text).

The engine's entry points are cached and wrap those with their context (``dst=...``,
``port range ...``): ``parse_dst``, ``parse_ip_spec`` and ``parse_proto`` (IPProto list,
a blank or ``*`` protocol is the default set); they ignore blanks around the string.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

ALL_PORTS: tuple[tuple[int, int], ...] = ((0, 65535),)

# IANA numbers of the protocol names the server knows.
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

# Protocols whose rules may name specific ports; all others allow only "*".
PORTED_PROTOCOLS = frozenset({6, 17, 132})


class PortError(ValueError):
    """A port or protocol spec the server rejects; ``str()`` is the server's text."""


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``, as the server's error messages print strings."""
    out = ['"']
    specials = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    specials["\v"] = "\\v"
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in specials:
            out.append(specials[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


# ---- the strict pieces --------------------------------------------------------------


def _port(text: str, which: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise PortError(f"invalid {which} integer")
    return int(text)


@functools.lru_cache(maxsize=1 << 14)
def parse_ports(spec: str) -> tuple[tuple[int, int], ...]:
    """``*``, ``22``, ``80,443``, ``1000-2000`` -> ((first, last), ...), inclusive."""
    if spec == "*":
        return ALL_PORTS
    out: list[tuple[int, int]] = []
    for part in spec.split(","):
        first_s, dash, last_s = part.partition("-")
        first = _port(first_s, "first")
        last = _port(last_s, "last") if dash else first
        if first == 0:
            raise PortError("first port must be >0, or use '*'")
        if first > last:
            raise PortError(f"invalid port range: first port {first} is greater than last {last}")
        out.append((first, last))
    return tuple(out)


def proto_number(text: str) -> int:
    """A protocol name or IANA number (0-255, no leading zeros) to its number."""
    lowered = text.lower()
    if lowered in PROTOCOLS:
        return PROTOCOLS[lowered]
    if text.isascii() and text.isdigit():
        if text[0] == "0":
            raise PortError(f"leading 0 not permitted in protocol number: {go_quote(text)}")
        if int(text) > 255:
            raise PortError(f"protocol number out of range (0-255): {int(text)}")
        return int(text)
    raise PortError(
        f"proto name {go_quote(text)} not known; "
        "use protocol number 0-255 or protocol name (icmp, tcp, udp, etc.)"
    )


def split_alias_ports(dst: str) -> tuple[str, str]:
    """Split an ACL destination ``alias:ports`` at its last colon (``[v6]:ports`` too)."""
    if dst.startswith("["):
        close = dst.find("]")
        if close != -1 and dst[close + 1 : close + 2] == ":":
            return dst[1:close], dst[close + 2 :]
    alias, colon, ports = dst.rpartition(":")
    if not colon:
        raise PortError("missing port: use alias:port, alias:* or alias:first-last")
    return alias, ports


def split_ip_spec(spec: str) -> tuple[str | None, str]:
    """A grant ``ip`` entry ``[proto:]ports`` -> (protocol text or None, ports text)."""
    if ":" not in spec:
        return None, spec
    proto, _, ports = spec.partition(":")
    if ":" in ports:
        raise PortError(f"expected only one colon in Internet protocol and port type, got: {spec}")
    return proto, ports


def port_range(ports: str) -> tuple[tuple[int, int], ...]:
    """:func:`parse_ports`, its error prefixed with ``port range "..."`` as the server does."""
    try:
        return parse_ports(ports)
    except PortError as exc:
        raise PortError(f"port range {go_quote(ports)}: {exc}") from None


# ---- the engine's entry points ------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)
def parse_proto(text: str) -> tuple[int, ...]:
    """An ACL/grant protocol -> IPProto list (empty = the default set)."""
    s = text.strip()
    if s in ("", "*"):
        return ()
    return (proto_number(s),)


@dataclass(frozen=True, slots=True)
class DstSpec:
    """An ACL destination ``alias:ports`` split at the last colon."""

    alias: str
    ports: tuple[tuple[int, int], ...]


def split_dst(text: str) -> tuple[str, str]:
    """:func:`split_alias_ports` of the destination without its surrounding blanks."""
    try:
        return split_alias_ports(text.strip())
    except PortError as exc:
        raise PortError(f"dst={go_quote(text)}: {exc}") from None


@functools.lru_cache(maxsize=1 << 14)
def parse_dst(text: str) -> DstSpec:
    alias, ports = split_dst(text)
    try:
        return DstSpec(alias, port_range(ports))
    except PortError as exc:
        raise PortError(f"dst={go_quote(text)}: {exc}") from None


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
    proto_s, ports_s = split_ip_spec(s)
    proto = parse_proto(proto_s) if proto_s is not None else ()
    return IpSpec(proto, port_range(ports_s))
