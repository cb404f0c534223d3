"""What a ``tests`` / ``sshTests`` entry may say, as Tailscale's server reads it.

Every check returns either the parsed value or an error message (``str``). An invalid
entry makes its test fail (the server answers ``test(s) failed``), except the sshTests
destinations the server rejects outright with its own wording
(:func:`ssh_dst_policy_error`).

``tests``: ``src`` is one alias (user, group, tag, host, IP, ``*``,
``autogroup:member``/``tagged``); ``proto`` is a name or an IANA number; each
``accept``/``deny`` entry is ``host:port`` with exactly one port (1-65535) and a
single-host destination: an IPv4 address, a bracketed IPv6 address, a tag, a hosts
alias naming one address, a Tailscale Service (``svc:web:443``), or ``autogroup:self``
when the source is a user or group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS

# IANA numbers of the protocol names the policy accepts.
PROTOCOLS: Mapping[str, int] = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "icmp": 1,
    "igmp": 2,
    "igp": 9,
    "ip-in-ip": 4,
    "ipv4": 4,
    "ipv6-icmp": 58,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
}

TEST_KEYS = frozenset({"src", "user", "proto", "accept", "allow", "deny"})
SSH_TEST_KEYS = frozenset({"src", "dst", "accept", "check", "deny"})
# Autogroups a test may name as its source: none. The server answers "unknown user or
# host" for autogroup:member (tailscale/tailscale#12370, #4416) and refuses sshTests
# autogroup sources outright (captured); the captures naming autogroup:member/tagged as a
# tests src are all failing tests.
SRC_AUTOGROUPS: frozenset[str] = frozenset()


class Kind(StrEnum):
    """What an alias names."""

    ALL = "all"
    USER = "user"
    GROUP = "group"
    TAG = "tag"
    HOST = "host"
    IP = "ip"
    AUTOGROUP = "autogroup"
    IPSET = "ipset"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Alias:
    kind: Kind
    text: str


@dataclass(frozen=True, slots=True)
class Dst:
    """A parsed ``host:port`` test destination."""

    alias: Alias
    port: int


@dataclass(frozen=True, slots=True)
class Names:
    """The names a policy defines: what an alias may refer to."""

    users: frozenset[str]
    groups: Mapping[str, tuple[str, ...]]
    tags: frozenset[str]
    hosts: Mapping[str, str]


def classify(text: str) -> Alias:
    if text == "*":
        return Alias(Kind.ALL, text)
    for prefix, kind in (
        ("autogroup:", Kind.AUTOGROUP),
        ("group:", Kind.GROUP),
        ("tag:", Kind.TAG),
        ("ipset:", Kind.IPSET),
        ("svc:", Kind.SERVICE),
    ):
        if text.startswith(prefix):
            return Alias(kind, text)
    if "@" in text:
        return Alias(Kind.USER, text)
    if is_ip_literal(text):
        return Alias(Kind.IP, text)
    return Alias(Kind.HOST, text)


def is_ip_literal(text: str) -> bool:
    """An address, a CIDR or an ``a-b`` range."""
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
        elif "-" in text:
            lo, hi = text.split("-", 1)
            ipaddress.ip_address(lo)
            ipaddress.ip_address(hi)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_proto(text: str | None) -> frozenset[int] | str:
    """``None``/``""`` -> the default set (TCP, UDP, ICMP, ICMPv6); else one protocol."""
    if text is None or text == "":
        return DEFAULT_PROTOS
    name = text.strip().lower()
    if name in PROTOCOLS:
        return frozenset({PROTOCOLS[name]})
    if name.isdigit() and 0 <= int(name) <= 255:
        return frozenset({int(name)})
    return f"unknown protocol {text!r}"


def check_src(text: str, names: Names) -> Alias | str:
    """The ``src`` of a test, or why it is not one the server knows."""
    if not text.strip():
        return "test has an empty src"
    alias = classify(text)
    match alias.kind:
        case Kind.USER if text not in names.users:
            return f"src {text!r} is not a user of this tailnet"
        case Kind.GROUP if text not in names.groups:
            return f"src {text!r}: group not found"
        case Kind.TAG if text not in names.tags:
            return f'src=tag not found: "{text}"'
        case Kind.HOST if text not in names.hosts:
            return f"src {text!r}: host not found"
        case Kind.AUTOGROUP if text not in SRC_AUTOGROUPS:
            return f"src {text!r} is not a valid test source"
        case Kind.IPSET:
            return f"src {text!r}: ipsets are not supported as a test source"
        case Kind.SERVICE:
            return f"src {text!r}: a Tailscale Service is never a source"
    return alias


def _port(text: str, whole: str) -> int | str:
    if text == "*":
        return f"{whole!r}: a test names one port, not '*'"
    if "," in text:
        return f"{whole!r}: a test names one port, not a list"
    if "-" in text[1:]:
        return f"{whole!r}: a test names one port, not a range"
    if not text.isdigit():
        return f"{whole!r}: invalid port {text!r}"
    port = int(text)
    if not 1 <= port <= 65535:
        return f"{whole!r}: port {port} out of range 1-65535"
    return port


def _split_host_port(text: str) -> tuple[str, str] | str:
    if text.startswith("["):
        close = text.find("]")
        if close == -1 or text[close + 1 : close + 2] != ":":
            return f"{text!r}: expected [ipv6]:port"
        return text[1:close], text[close + 2 :]
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        return f"{text!r}: expected host:port"
    return host, port


def self_dst_allowed(src: Alias) -> bool:
    """May this src test autogroup:self (its own devices)?"""
    return src.kind in (Kind.USER, Kind.GROUP) or src.text == "autogroup:member"


PORTED = frozenset({6, 17, 132})  # TCP, UDP, SCTP: the protocols with ports


def _portless_host(text: str, names: Names) -> str | None:
    """The host of ``host``, ``host:0`` or ``[v6]``: a destination of a portless protocol."""
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1]
    host, sep, port = text.rpartition(":")
    if sep and port == "0" and host:
        return host[1:-1] if host.startswith("[") and host.endswith("]") else host
    alias = classify(text)
    known = (
        (alias.kind is Kind.TAG and text in names.tags)
        or (alias.kind is Kind.HOST and text in names.hosts)
        or (alias.kind is Kind.IP and ":" not in text)
        or alias.kind is Kind.SERVICE
    )
    return text if known else None


def check_dst(text: str, names: Names, src: Alias, *, portless: bool = False) -> Dst | str:
    """One ``accept``/``deny`` entry: a single host and exactly one port.

    ``portless``: the test's protocol has no ports (ICMP and the like): the entry may be a
    bare host or ``host:0``, read as the host on any port (port 0).
    """
    if portless and (host := _portless_host(text, names)) is not None:
        alias = classify(host)
        if alias.kind is Kind.IP and ("/" in host or "-" in host):
            return f"{text!r}: a test destination is one host, not a network"
        problem = None if alias.kind is Kind.IP else _dst_alias_problem(alias, names, src)
        return problem if problem else Dst(alias, 0)
    split = _split_host_port(text)
    if isinstance(split, str):
        return split
    host, port_text = split
    port = _port(port_text, text)
    if isinstance(port, str):
        return port
    alias = classify(host)
    if alias.kind is Kind.IP:
        if "/" in host or "-" in host:
            return f"{text!r}: a test destination is one host, not a network"
        if ":" in host and not text.startswith("["):
            return f"{text!r}: write an IPv6 destination as [addr]:port"
        return Dst(alias, port)
    problem = _dst_alias_problem(alias, names, src)
    return problem if problem else Dst(alias, port)


def _dst_alias_problem(alias: Alias, names: Names, src: Alias) -> str | None:
    text = alias.text
    match alias.kind:
        case Kind.TAG:
            return None if text in names.tags else f'dst="{text}": tag not found: "{text}"'
        case Kind.HOST:
            if text not in names.hosts:
                return f"dst {text!r}: host not found"
            if single_host_ip(names.hosts[text]) is None:
                return f"dst {text!r} is the network {names.hosts[text]}, not one host"
            return None
        case Kind.AUTOGROUP if text == "autogroup:self":
            if self_dst_allowed(src):
                return None
            return "autogroup:self as a test destination needs a user or group src"
        case Kind.GROUP if text not in names.groups:
            return f"dst {text!r}: group not found"
        case Kind.SERVICE:
            return None
        case Kind.USER:
            # Not documented nor captured: read as every device of the user (as a tag is
            # every device with it); `policy lint` flags it as unverified.
            return None if text.lower() in names.users else f"dst {text!r}: not a user"
        case Kind.GROUP:
            return None
    return f"dst {text!r} is not a single host (use a tag, a host or an IP)"


def single_host_ip(value: str) -> str | None:
    """A hosts value naming exactly one address (``a``, ``a/32``, ``a/128``), else None."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    return str(net.network_address) if net.num_addresses == 1 else None


def check_login(text: str) -> str | None:
    if not text.strip():
        return "an SSH login user cannot be empty"
    return None


def ssh_dst_policy_error(text: str) -> str | None:
    """The server's own rejection of an sshTests destination (the whole policy fails)."""
    if text.startswith("tag:") and text.count(":") > 1:
        return f'SSH tests dst contains unknown tag "{text}"'
    if text in ("autogroup:internet", "*", "autogroup:danger-all") or "/" in text:
        return f'SSH tests dst contains disallowed element "{text}"'
    return None


def check_ssh_dst(text: str, names: Names, src: Alias) -> Alias | str:
    """An sshTests destination: tag, user, hosts alias, IPv4 address, autogroup:self."""
    alias = classify(text)
    match alias.kind:
        case Kind.TAG:
            return alias if text in names.tags else f'SSH tests dst contains unknown tag "{text}"'
        case Kind.USER:
            return alias if text in names.users else f"dst {text!r} is not a user of this tailnet"
        case Kind.HOST:
            return alias if text in names.hosts else f"dst {text!r}: host not found"
        case Kind.IP:
            if ":" in text:
                return f"dst {text!r}: IPv6 addresses are not valid sshTests destinations"
            return alias
        case Kind.AUTOGROUP if text == "autogroup:self":
            if self_dst_allowed(src):
                return alias
            return "autogroup:self as an sshTests destination needs a user or group src"
    return f"dst {text!r} is not a valid sshTests destination"


def unknown_keys(raw: Mapping[str, object], allowed: Collection[str]) -> str | None:
    extra = sorted(k for k in raw if k not in allowed)
    return f"unknown field(s) {', '.join(map(repr, extra))}" if extra else None
