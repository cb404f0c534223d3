"""Parsers for the small languages inside policy strings, with the server's error texts.

Go durations (``time.ParseDuration``, used by SSH ``checkPeriod``), IP addresses and
prefixes, and the alias kinds (tag, group, user, host, ...). Ports (``22``,
``80,443``, ``8000-8100``, ``*``) and IP protocols (names and IANA numbers) are read by
the engine's parser, :mod:`tailcfg.policy.model.ports`; ``parse_ports``, ``parse_proto`` and
``split_alias_ports`` here are that parser under the validator's names.
Each parser raises :class:`ValueError` whose text is the server's wording.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum

from tailcfg.policy.model import autogroups, ports
from tailcfg.policy.model.ports import go_quote as go_quote
from tailcfg.policy.model.ports import split_alias_ports as split_alias_ports

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Protocols whose rules may name specific ports; all others allow only "*".
PORT_PROTOCOLS = ports.PORTED_PROTOCOLS
# A protocol name or IANA number (0-255, no leading zeros) to its number.
parse_proto = ports.proto_number

# Autogroups Tailscale defines (one list, the engine's). Roles select users by role.
AUTOGROUPS = autogroups.AUTOGROUPS

_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9}
_NS.update({"m": 60 * 10**9, "h": 3600 * 10**9})
_MAX_INT64 = (1 << 63) - 1


class Kind(StrEnum):
    """What an alias string names, decided the way the server does."""

    WILDCARD = "*"
    IP = "ip"
    USER = "user"
    DOMAIN_USERS = "domain-users"  # user:*@domain
    GROUP = "group"
    TAG = "tag"
    AUTOGROUP = "autogroup"
    IPSET = "ipset"
    SERVICE = "service"  # svc:NAME, a Tailscale Service
    HOST = "host"
    INVALID = "invalid"


def _time_quote(text: str) -> str:
    """The quoting of Go's ``time`` package: non-ASCII bytes as ``\\xNN``."""
    out = ['"']
    for ch in text:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in ('"', "\\") else ch)
    out.append('"')
    return "".join(out)


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string; errors as ``time.ParseDuration`` words them."""
    invalid = ValueError("time: invalid duration " + _time_quote(text))
    rest, neg = text, False
    if rest[:1] in ("-", "+"):
        neg, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        match = re.match(r"([0-9]*)(?:\.([0-9]*))?", rest)
        assert match is not None
        whole, frac = match.group(1), match.group(2)
        if rest[0] not in "0123456789." or (not whole and not frac):
            raise invalid
        rest = rest[match.end() :]
        unit_match = re.match(r"[^0-9.]*", rest)
        assert unit_match is not None
        unit = unit_match.group(0)
        if not unit:
            raise ValueError("time: missing unit in duration " + _time_quote(text))
        rest = rest[len(unit) :]
        if unit not in _NS:
            raise ValueError(
                f"time: unknown unit {_time_quote(unit)} in duration {_time_quote(text)}"
            )
        scale = _NS[unit]
        value = int(whole or "0")
        if value > (1 << 63) // scale:
            raise invalid
        value *= scale
        if frac:
            value += int(int(frac) * (scale / 10 ** len(frac)))
        total += value
        if total > 1 << 63:
            raise invalid
    if not neg and total > _MAX_INT64:
        raise invalid
    return -total if neg else total


def _frac(value: int, precision: int) -> tuple[str, int]:
    digits = f"{value % 10**precision:0{precision}d}".rstrip("0")
    return ("." + digits if digits else ""), value // 10**precision


def format_go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``1h2m3.5s``, ``200h0m0s``, ``-1m0s``, ``1.5ms``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 10**9:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _frac(u, 3)
            return f"{sign}{whole}{frac}µs"
        frac, whole = _frac(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, secs = _frac(u, 9)
    text = f"{secs % 60}{frac}s"
    minutes = secs // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def parse_ports(spec: str) -> list[tuple[int, int]]:
    """``*``, ``22``, ``80,443``, ``8000-8100`` to inclusive ranges."""
    return list(ports.parse_ports(spec))


def parse_ip_or_prefix(text: str) -> IPNetwork:
    """An address (as a /32 or /128) or a CIDR prefix; errors name the bad part."""
    addr_text, slash, bits = text.partition("/")
    try:
        addr = ipaddress.ip_address(addr_text)
    except ValueError:
        raise ValueError(f"ParseAddr({go_quote(addr_text)}): invalid IP address") from None
    if not slash:
        return ipaddress.ip_network(addr)
    if not re.fullmatch(r"0|[1-9][0-9]*", bits) or int(bits) > addr.max_prefixlen:
        raise ValueError(f"netip.ParsePrefix({go_quote(text)}): bad bits after slash")
    return ipaddress.ip_network(f"{addr}/{bits}", strict=False)


def looks_like_ip(text: str) -> bool:
    """Digits and dots (IPv4) or hex and colons (IPv6), with an optional /bits."""
    head = text.partition("/")[0]
    return bool(
        re.fullmatch(r"[0-9.]+", head) or re.fullmatch(r"[0-9a-fA-F:.]*:[0-9a-fA-F:.]*", head)
    )


def is_ip_range(text: str) -> bool:
    """``100.64.0.1-100.64.0.9``: an address range, as ipsets and sources allow."""
    first, dash, last = text.partition("-")
    if not dash:
        return False
    try:
        return ipaddress.ip_address(first).version == ipaddress.ip_address(last).version
    except ValueError:
        return False


_PREFIX_KINDS = (
    ("group:", Kind.GROUP),
    ("tag:", Kind.TAG),
    ("autogroup:", Kind.AUTOGROUP),
    ("ipset:", Kind.IPSET),
    ("svc:", Kind.SERVICE),
)


def service_name_problem(alias: str) -> str | None:
    """Why ``svc:NAME`` is not a service name (NAME must be a DNS label), or None.

    The rule of Tailscale's ``tailcfg.ServiceName.Validate`` (the client's type): 1-63
    bytes of letters, digits and hyphens, a letter or digit at both ends.
    """
    name = alias.removeprefix("svc:")
    if not name:
        return "must not be empty after the 'svc:' prefix"
    if len(name.encode()) > 63:
        return f"{go_quote(name)} is too long, max length is 63 bytes"
    if not (_alnum(name[0]) and _alnum(name[-1])):
        return (
            f"{go_quote(name)} is not a valid DNS label: must start and end with a letter or number"
        )
    bad = next((c for c in name if not (_alnum(c) or c == "-")), None)
    if bad is not None:
        return (
            f"{go_quote(name)} is not a valid DNS label: contains invalid character {go_quote(bad)}"
        )
    return None


def _alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def alias_kind(alias: str) -> Kind:
    """Classify an alias the way the server does (an IP literal wins over a host name)."""
    if alias == "*":
        return Kind.WILDCARD
    # No IP literal starts with these prefixes (they hold non-hex letters): test them first.
    for prefix, kind in _PREFIX_KINDS:
        if alias.startswith(prefix):
            return kind
    if alias.startswith("user:") and "@" in alias:
        return Kind.DOMAIN_USERS
    if "@" in alias:
        return Kind.USER
    if looks_like_ip(alias) or is_ip_range(alias):
        return Kind.IP
    if ":" not in alias and alias:
        return Kind.HOST
    return Kind.INVALID
