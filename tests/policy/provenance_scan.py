"""The reference for :class:`~tailcfg.policy.evaluate.provenance.Provenance`: every rule per call.

This is the algorithm before the destination/port index, written as plainly as possible:
each accepted ACL destination and each grant ``ip`` spec x destination is one entry with
its merged source and destination address sets, and a query checks every entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS, Addr
from tailcfg.policy.evaluate.provenance import Miss
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import AclRule, Grant, Policy
from tailcfg.policy.model.ports import PortError, parse_dst, parse_ip_spec, parse_proto

Ports = tuple[tuple[int, int], ...]
ORDER = {"proto": 0, "port": 1, "src": 2, "dst": 3}


@dataclass(frozen=True)
class Query:
    src: Addr
    dst: Addr
    port: int
    protos: frozenset[int]
    src_node: Node | None
    dst_node: Node | None


@dataclass(frozen=True)
class Entry:
    ref: RuleRef
    src: AddrSet
    alias: str
    dst: AddrSet
    ports: Ports
    protos: frozenset[int]


def _specs(rule: AclRule | Grant) -> Iterator[tuple[str, Ports, frozenset[int]]]:
    """(destination alias, ports, protocols) of a rule; raises PortError like the server."""
    if isinstance(rule, AclRule):
        proto = frozenset(parse_proto(rule.proto.text) if rule.proto else ()) or DEFAULT_PROTOS
        parsed = [parse_dst(d.text) for d in rule.dst]
        yield from ((spec.alias.strip(), spec.ports, proto) for spec in parsed)
        return
    ips = [parse_ip_spec(i.text) for i in rule.ip]
    for ip in ips:
        proto = frozenset(ip.proto) or DEFAULT_PROTOS
        yield from ((d.text.strip(), ip.ports, proto) for d in rule.dst)


class Scan:
    """Every entry checked on every query."""

    def __init__(self, policy: Policy, resolver: Resolver) -> None:
        self.resolver = resolver
        rules: list[tuple[str, AclRule | Grant]] = [
            *(("acls", a) for a in policy.acls if a.action == "accept"),
            *(("grants", g) for g in policy.grants if not g.via),
        ]
        self.table: list[Entry] = []
        for section, rule in rules:
            try:
                specs = list(_specs(rule))
            except PortError:
                continue
            aliases = [r.text.strip() for r in rule.src]
            ivs = [iv for a in aliases for iv in resolver.src_intervals(a)]
            if "*" in aliases:
                routes = resolver.approved_subnet_routes
                ivs += [iv for r in routes if (iv := addrs.parse_interval(r))]
            ref = RuleRef(section, rule.index, rule.span)
            for alias, ports, protos in specs:
                dst = AddrSet(resolver.dst_intervals(alias))
                if dst or alias == "autogroup:self":
                    self.table.append(Entry(ref, AddrSet(ivs), alias, dst, ports, protos))

    def _dst_ok(self, e: Entry, q: Query) -> bool:
        if e.alias == "autogroup:self":
            return q.src_node is not None and q.dst_node in self.resolver.same_user(q.src_node)
        return e.dst.contains_addr(*q.dst)

    def granting(self, q: Query) -> list[RuleRef]:
        out: list[RuleRef] = []
        for e in self.table:
            port_ok = any(a <= q.port <= b for a, b in e.ports)
            dst_ok = port_ok and self._dst_ok(e, q) and bool(e.protos & q.protos)
            if dst_ok and e.src.contains_addr(*q.src) and e.ref not in out:
                out.append(e.ref)
        return out

    def misses(self, q: Query) -> list[Miss]:
        found: dict[tuple[RuleRef, str], Miss] = {}
        for e in self.table:
            src_ok, dst_ok = e.src.contains_addr(*q.src), self._dst_ok(e, q)
            port_ok = dst_ok and any(a <= q.port <= b for a, b in e.ports)
            proto_ok = bool(e.protos & q.protos)
            text = ",".join(dict.fromkeys(f"{a}" if a == b else f"{a}-{b}" for a, b in e.ports))
            miss = None
            if src_ok and port_ok and not proto_ok:
                miss = Miss(e.ref, "proto", f"protocols {sorted(e.protos)}")
            elif src_ok and dst_ok and proto_ok and not port_ok:
                miss = Miss(e.ref, "port", f"ports {text}")
            elif src_ok and not dst_ok:
                miss = Miss(e.ref, "dst", "matches the source, not the destination")
            elif port_ok and proto_ok and not src_ok:
                miss = Miss(e.ref, "src", "matches the destination, not the source")
            if miss is None:
                continue
            prev = found.get((e.ref, miss.lacks))
            if prev is not None and miss.lacks == "port" and miss.detail != prev.detail:
                miss = Miss(e.ref, "port", f"{prev.detail},{text}")
            found[(e.ref, miss.lacks)] = miss
        ranked = sorted(found.values(), key=lambda m: ORDER[m.lacks])
        return [m for m in ranked if m.lacks != "dst"] or ranked
