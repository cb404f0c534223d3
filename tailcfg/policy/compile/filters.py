"""The tailnet-wide packet-filter rules, before they are reduced to each device.

Grants come first, then ACLs (each ACL split into one rule per destination, its non-self
destinations before its autogroup:self ones unless all its destinations are autogroups).
Rules with the same SrcIPs and IPProto merge later (see :mod:`tailcfg.policy.compile.per_device`).
Rules whose destinations depend on the receiving device (autogroup:self, via) are kept
as :class:`SelfRule` / :class:`ViaRule` and expanded per device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval
from tailcfg.policy.model.policy import AclRule, Grant, Loc, Policy, Ref
from tailcfg.policy.model.ports import IpSpec, parse_dst, parse_ip_spec, parse_proto

SELF = "autogroup:self"
COMPANIONS = {
    "tailscale.com/cap/drive": "tailscale.com/cap/drive-sharer",
    "tailscale.com/cap/relay": "tailscale.com/cap/relay-target",
}

RuleKey = tuple[tuple[str, ...], tuple[int, ...]]


class DstEntry(NamedTuple):
    """One ``DstPorts`` element; ``iv`` is None for ``*``."""

    ip: str
    iv: Interval | None
    first: int
    last: int
    group: int = 0
    internet: bool = False  # from autogroup:internet: reaches exit nodes only

    @property
    def sort_key(self) -> tuple[int, ...]:
        """Order inside one ACL/grant: destination group, then ``*``, then address."""
        return (self.group, 0) if self.iv is None else (self.group, 1, *self.iv)

    def wire(self) -> dict[str, Any]:
        return {"IP": self.ip, "Ports": {"First": self.first, "Last": self.last}}


@dataclass(slots=True)
class Sources:
    """A rule's resolved sources: wire SrcIPs and the addresses behind them."""

    ips: tuple[str, ...]
    intervals: list[Interval]
    _set: AddrSet | None = None

    @property
    def addrs(self) -> AddrSet:
        if self._set is None:
            self._set = AddrSet(self.intervals)
        return self._set


@dataclass(slots=True)
class FilterRule:
    pos: int
    src: tuple[str, ...]
    proto: tuple[int, ...]
    dsts: list[DstEntry]
    origin: Ref | None = None
    block: int = 0

    @property
    def key(self) -> RuleKey:
        return (self.src, self.proto)


@dataclass(slots=True)
class CapRule:
    """A CapGrant rule: per destination alias, its intervals and the CapMap."""

    pos: int
    src: tuple[str, ...]
    grants: list[tuple[list[Interval], Mapping[str, Any]]]
    origin: Ref | None = None


@dataclass(slots=True)
class SelfRule:
    """Traffic to autogroup:self: sources narrowed per device owner."""

    pos: int
    srcset: AddrSet
    proto: tuple[int, ...]
    ports: tuple[tuple[int, int], ...]
    app: Mapping[str, Any] | None = None
    origin: Ref | None = None
    block: int = 0


@dataclass(slots=True)
class ViaRule:
    pos: int
    via: tuple[str, ...]
    src: tuple[str, ...]
    dst_aliases: tuple[str, ...]
    specs: tuple[IpSpec, ...]
    origin: Ref | None = None
    block: int = 0


Rule = FilterRule | CapRule | SelfRule | ViaRule


@dataclass(slots=True)
class RuleSet:
    rules: list[Rule] = field(default_factory=list)


def resolve_sources(r: Resolver, aliases: Sequence[str]) -> Sources | None:
    """SrcIPs as the server writes them; None when nothing resolves."""
    names = [a.strip() for a in aliases]
    if "autogroup:danger-all" in names:
        full = [(4, 0, (1 << 32) - 1), (6, 0, (1 << 128) - 1)]
        return Sources(("*",), full)
    ivs: list[Interval] = []
    for a in names:
        ivs.extend(r.src_intervals(a))
    if not ivs:
        return None
    ips = r.tokens(ivs)
    if "*" in names:
        seen = set(ips)
        for s in r.approved_subnet_routes:
            if s not in seen:
                seen.add(s)
                ips.append(s)
    return Sources(tuple(ips), ivs)


def dst_entries(
    r: Resolver, alias: str, ports: Sequence[tuple[int, int]], group: int = 0
) -> list[DstEntry]:
    out = []
    internet = alias.strip() == "autogroup:internet"
    for ip, iv in r.dst_pairs(alias):
        for first, last in ports:
            out.append(DstEntry(ip, iv, first, last, group, internet))
    return out


def _is_autogroup(alias: str) -> bool:
    return alias.strip().startswith("autogroup:")


class _Builder:
    def __init__(self, resolver: Resolver) -> None:
        self.r = resolver
        self.out: list[Rule] = []
        self.block = 0

    def add(self, rule: Rule) -> None:
        if isinstance(rule, FilterRule | SelfRule | ViaRule):
            rule.block = self.block
        self.out.append(rule)

    @property
    def pos(self) -> int:
        return len(self.out)

    def acl(self, acl: AclRule) -> None:
        if acl.action != "accept":
            return
        srcs = resolve_sources(self.r, [s.text for s in acl.src])
        proto = parse_proto(acl.proto.text) if acl.proto else ()
        specs = [(ref, parse_dst(ref.text)) for ref in acl.dst]
        if any(not _is_autogroup(d.alias) for _, d in specs):
            specs = [x for x in specs if x[1].alias.strip() != SELF] + [
                x for x in specs if x[1].alias.strip() == SELF
            ]
        for ref, d in specs:
            if d.alias.strip() == SELF:
                if srcs is not None:
                    self.add(SelfRule(self.pos, srcs.addrs, proto, d.ports, origin=ref))
                continue
            if srcs is None:
                continue
            entries = dst_entries(self.r, d.alias, d.ports)
            if entries:
                self.add(FilterRule(self.pos, srcs.ips, proto, entries, ref))

    def grant(self, g: Grant) -> None:
        src_names = [s.text for s in g.src]
        dst_names = [d.text.strip() for d in g.dst]
        if not src_names or not dst_names:
            return
        specs = tuple(parse_ip_spec(i.text) for i in g.ip)
        srcs = resolve_sources(self.r, src_names)
        if g.via:
            if srcs is not None:
                via = tuple(v.text.strip() for v in g.via)
                self.add(ViaRule(self.pos, via, srcs.ips, tuple(dst_names), specs, g.dst[0]))
            return
        others = [d for d in dst_names if d != SELF]
        has_self = SELF in dst_names
        for spec in specs:
            if others and srcs is not None:
                entries = []
                for i, d in enumerate(others):
                    entries.extend(dst_entries(self.r, d, spec.ports, i))
                if entries:
                    self.add(FilterRule(self.pos, srcs.ips, spec.proto, entries, g.dst[0]))
            if has_self and srcs is not None:
                self.add(SelfRule(self.pos, srcs.addrs, spec.proto, spec.ports, origin=g.dst[0]))
        if g.app:
            self.app(g, srcs, others, has_self)

    def app(self, g: Grant, srcs: Sources | None, others: list[str], has_self: bool) -> None:
        app = dict(g.app)
        app_wire = {k: list(v) for k, v in app.items()}
        if others:
            grants: list[tuple[list[Interval], Mapping[str, Any]]] = []
            dst_ips: list[str] = []
            for d in others:
                ivs = self.r.src_intervals(d)
                grants.append((addrs.merge(ivs), app_wire))
                dst_ips.extend(self.r.tokens(ivs))
            src_ips = srcs.ips if srcs is not None else ()
            self.add(CapRule(self.pos, src_ips, grants, g.dst[0]))
            if "*" in others:
                dst_ips.extend(self.r.approved_subnet_routes)
            src_ivs = srcs.addrs.intervals if srcs is not None else []
            for cap in sorted(app):
                companion = COMPANIONS.get(cap)
                if companion:
                    self.add(
                        CapRule(self.pos, tuple(dst_ips), [(src_ivs, {companion: None})], g.dst[0])
                    )
        if has_self and srcs is not None:
            self.add(SelfRule(self.pos, srcs.addrs, (), (), app=app_wire, origin=g.dst[0]))


def build_rules(policy: Policy, resolver: Resolver) -> RuleSet:
    """All tailnet-wide rules in the server's order (grants, then ACLs)."""
    b = _Builder(resolver)
    if not policy.has_acls and not policy.has_grants:
        span = policy.span
        if span is not None:
            loc = Loc(span)
            star = Ref("*", loc)
            b.acl(AclRule(0, "accept", (star,), (Ref("*:*", loc),), None, loc))
        return RuleSet(b.out)
    for g in policy.grants:
        b.grant(g)
        b.block += 1
    for acl in policy.acls:
        b.acl(acl)
        b.block += 1
    return RuleSet(b.out)
