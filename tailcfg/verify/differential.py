"""Compare the packet filter and SSH policy a real node received with the engine's.

Two levels for each node:

* **equal**: the same rules in the same order, each rule's ``SrcIPs`` and ``DstPorts``
  compared as sets (the order inside a rule carries no meaning);
* **equivalent**: the same decision for every (source, destination, port, protocol) on a
  grid that holds every boundary of both filters — each address range's first and last
  address and its neighbours, each port range's ends and neighbours, every protocol either
  filter names (and the default set of a rule without ``IPProto``) — so two filters that
  differ only in how they spell the same sets of packets are equivalent. Capability grants
  (``CapGrant``) are compared as sets of rules.

For SSH: equal (rules as JSON) and equivalent (the same decision, :func:`ssh_decision`, for
every node address as source and every login of interest).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tailcfg.verify.ssh import ssh_decision

DEFAULT_PROTOS = (6, 17, 1, 58)  # a rule without IPProto: TCP, UDP, ICMP, ICMPv6
Range = tuple[int, int, int]  # version, first, last (as integers)
MAX_EXAMPLES = 5


def _ranges(text: str) -> list[Range]:
    text = text.strip()
    if text == "*":
        return [(4, 0, 2**32 - 1), (6, 0, 2**128 - 1)]
    if "-" in text:
        first, last = (ipaddress.ip_address(t) for t in text.split("-", 1))
        return [(first.version, int(first), int(last))]
    net = ipaddress.ip_network(text, strict=False)
    return [(net.version, int(net.network_address), int(net.broadcast_address))]


@dataclass(frozen=True, slots=True)
class _Rule:
    srcs: tuple[Range, ...]
    dsts: tuple[tuple[Range, int, int], ...]  # address range, first port, last port
    protos: tuple[int, ...]


def _parse(rules: Sequence[Mapping[str, Any]]) -> tuple[list[_Rule], list[str]]:
    """The filtering rules, and the capability grants as canonical JSON."""
    parsed: list[_Rule] = []
    caps: list[str] = []
    for rule in rules:
        srcs = tuple(r for s in rule.get("SrcIPs") or () for r in _ranges(str(s)))
        if rule.get("CapGrant"):
            for grant in rule["CapGrant"]:
                body = {"src": sorted(map(str, rule.get("SrcIPs") or ())), **_sorted(grant)}
                caps.append(json.dumps(body, sort_keys=True))
            continue
        dsts = tuple(
            (
                r,
                int((d.get("Ports") or {}).get("First", 0)),
                int((d.get("Ports") or {}).get("Last", 65535)),
            )
            for d in rule.get("DstPorts") or ()
            for r in _ranges(str(d.get("IP", "*")))
        )
        protos = tuple(int(p) for p in rule.get("IPProto") or ()) or DEFAULT_PROTOS
        parsed.append(_Rule(srcs, dsts, protos))
    return parsed, sorted(caps)


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_sorted(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


def canonical_rule(rule: Mapping[str, Any]) -> str:
    """One rule as JSON with its lists as sets (order inside a rule carries no meaning)."""
    return json.dumps(_sorted(dict(rule)), sort_keys=True)


def _points(ranges: Iterable[tuple[int, int, int]], extra: Iterable[str]) -> list[tuple[int, int]]:
    top = {4: 2**32 - 1, 6: 2**128 - 1}
    pts: set[tuple[int, int]] = set()
    for version, first, last in ranges:
        for value in (first - 1, first, last, last + 1):
            if 0 <= value <= top[version]:
                pts.add((version, value))
    for address in extra:
        ip = ipaddress.ip_address(address)
        pts.add((ip.version, int(ip)))
    return sorted(pts)


def _clip(r: Range, within: Sequence[Range]) -> list[Range]:
    """The parts of ``r`` inside any of ``within``."""
    out = []
    for v, a, b in within:
        if v == r[0] and a <= r[2] and r[1] <= b:
            out.append((v, max(a, r[1]), min(b, r[2])))
    return out


def _inside(point: tuple[int, int], within: Sequence[Range]) -> bool:
    return any(v == point[0] and a <= point[1] <= b for v, a, b in within)


def _show(version: int, value: int) -> str:
    return str(ipaddress.ip_address(value) if version == 6 else ipaddress.IPv4Address(value))


def _allows(
    rules: Sequence[_Rule], src: tuple[int, int], dst: tuple[int, int], port: int, proto: int
) -> bool:
    for rule in rules:
        if proto not in rule.protos:
            continue
        if not any(v == src[0] and a <= src[1] <= b for v, a, b in rule.srcs):
            continue
        for (v, a, b), first, last in rule.dsts:
            if v == dst[0] and a <= dst[1] <= b and first <= port <= last:
                return True
    return False


@dataclass(frozen=True, slots=True)
class FilterComparison:
    equal: bool
    equivalent: bool
    caps_equal: bool
    only_engine: tuple[str, ...]  # examples the engine allows and the peer does not
    only_peer: tuple[str, ...]  # examples the peer allows and the engine does not
    engine_rules: int
    peer_rules: int
    first_difference: str = ""  # the first rule that is spelled differently, both ways


def _first_difference(engine: Sequence[str], peer: Sequence[str]) -> str:
    for i, (a, b) in enumerate(zip(engine, peer, strict=False)):
        if a != b:
            return f"rule {i}: engine {a} / peer {b}"
    if len(engine) != len(peer):
        extra = engine[len(peer) :] or peer[len(engine) :]
        who = "engine" if len(engine) > len(peer) else "peer"
        return f"rule {min(len(engine), len(peer))}: only the {who} has {extra[0]}"
    return ""


def compare_filters(
    engine: Sequence[Mapping[str, Any]],
    peer: Sequence[Mapping[str, Any]],
    addresses: Iterable[str] = (),
    own: Iterable[str] | None = None,
) -> FilterComparison:
    """Compare two packet filters (``tailcfg.FilterRule`` lists) as the module says.

    ``own``: the prefixes the node answers for (its addresses, its approved routes). A
    node's filter only ever sees packets to those, so destinations elsewhere are not
    compared (Headscale may name other devices' addresses in a node's filter)."""
    engine_text = [canonical_rule(r) for r in engine]
    peer_text = [canonical_rule(r) for r in peer]
    equal = engine_text == peer_text
    mine, my_caps = _parse(engine)
    theirs, their_caps = _parse(peer)
    addresses = list(addresses)
    rules = mine + theirs
    srcs = _points((r for rule in rules for r in rule.srcs), addresses)
    dsts = _points((d[0] for rule in rules for d in rule.dsts), addresses)
    if own is not None:
        mine_ranges = [r for text in own for r in _ranges(text)]
        dsts = _points(
            (r for rule in rules for d in rule.dsts for r in _clip(d[0], mine_ranges)),
            (),
        )
        dsts += [p for p in _points(mine_ranges, ()) if _inside(p, mine_ranges)]
        dsts = sorted({p for p in dsts if _inside(p, mine_ranges)})
    ports: set[int] = {0}
    for rule in rules:
        for _r, first, last in rule.dsts:
            ports.update(p for p in (first - 1, first, last, last + 1) if 0 <= p <= 65535)
    protos = sorted({p for rule in rules for p in rule.protos})
    only_engine: list[str] = []
    only_peer: list[str] = []
    for src in srcs:
        for dst in dsts:
            if src[0] != dst[0]:
                continue
            for proto in protos:
                for port in sorted(ports):
                    a = _allows(mine, src, dst, port, proto)
                    b = _allows(theirs, src, dst, port, proto)
                    if a != b:
                        what = f"{_show(*src)} -> {_show(*dst)}:{port} proto {proto}"
                        (only_engine if a else only_peer).append(what)
    return FilterComparison(
        equal=equal,
        equivalent=not only_engine and not only_peer,
        caps_equal=my_caps == their_caps,
        only_engine=tuple(only_engine[:MAX_EXAMPLES]) + _more(only_engine),
        only_peer=tuple(only_peer[:MAX_EXAMPLES]) + _more(only_peer),
        engine_rules=len(engine),
        peer_rules=len(peer),
        first_difference=_first_difference(engine_text, peer_text),
    )


def _more(items: Sequence[str]) -> tuple[str, ...]:
    return (f"... {len(items) - MAX_EXAMPLES} more",) if len(items) > MAX_EXAMPLES else ()


@dataclass(frozen=True, slots=True)
class SshComparison:
    equal: bool
    equivalent: bool
    differences: tuple[str, ...]  # "100.64.0.1 as root: engine accept, peer deny"
    first_difference: str = ""


def _ssh_rules(policy: Mapping[str, Any] | None) -> list[str]:
    return [canonical_rule(r) for r in (policy or {}).get("rules") or ()]


def compare_ssh(
    engine: Mapping[str, Any] | None,
    peer: Mapping[str, Any] | None,
    sources: Mapping[str, Sequence[str]],
    logins: Iterable[str],
) -> SshComparison:
    """Compare two SSH policies: rules, and the decision per source node and login."""
    engine_text, peer_text = _ssh_rules(engine), _ssh_rules(peer)
    equal = engine_text == peer_text
    differences: list[str] = []
    for name, addresses in sources.items():
        for login in logins:
            a = ssh_decision(engine or {}, addresses, login)
            b = ssh_decision(peer or {}, addresses, login)
            if a != b:
                differences.append(f"{name} as {login}: engine {a}, peer {b}")
    first = _first_difference(engine_text, peer_text)
    return SshComparison(equal, not differences, tuple(differences), first)
