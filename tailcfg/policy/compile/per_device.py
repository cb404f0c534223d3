"""Per-device packet filters, SSH policies and peers from the tailnet-wide rules.

The server merges rules with equal (SrcIPs, IPProto) across the whole rule list, then
reduces the result to each device: a ``DstPorts`` element stays when its address is
the device's, overlaps one of the device's approved subnet routes, or (for exit nodes)
lies in the internet. Here the equivalent is computed per device from an index of which
element reaches which device, so the work is proportional to the output.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from tailcfg.policy.compile import recorder
from tailcfg.policy.compile.compiled import CompiledNode, CompiledPolicy
from tailcfg.policy.compile.filters import (
    COMPANIONS,
    CapRule,
    DstEntry,
    FilterRule,
    RuleKey,
    RuleSet,
    SelfRule,
    ViaRule,
    build_rules,
)
from tailcfg.policy.compile.peers import peer_map
from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.compile.ssh import SshCompiler
from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy

_ORDER = operator.itemgetter(0, 1, 2, 3, 4, 5)
_INTERNET = [iv for t in addrs.INTERNET_DST if (iv := addrs.parse_interval(t))]

# (group position, source block, address order, rule position, sub-index, element index,
#  key, payload): within a merged rule, each ACL/grant's elements are in address order.
_Item = tuple[int, int, tuple[int, ...], int, int, int, Any, Any]


class _Targets:
    """Which devices an address interval reaches (own address, subnet route, exit)."""

    def __init__(self, r: Resolver) -> None:
        self.r = r
        self.routers = [(n, r.subnet_route_intervals(n)) for n in r.nodes]
        self.routers = [(n, ivs) for n, ivs in self.routers if ivs]
        self.exits = [n for n in r.nodes if r.is_exit_node(n)]
        self.internet = AddrSet(_INTERNET)
        self._cache: dict[Interval, list[Node]] = {}

    def __call__(self, iv: Interval, *, internet: bool = False) -> list[Node]:
        """Devices ``iv`` reaches; an autogroup:internet range reaches exit nodes only."""
        if internet:
            return self.exits if any(addrs.contains(i, iv) for i in _INTERNET) else []
        hit = self._cache.get(iv)
        if hit is not None:
            return hit
        found = {n.name: n for n in self.r.nodes_in(iv)}
        if self.r.route_space.overlaps(iv):
            for n, routes in self.routers:
                if any(addrs.overlaps(iv, rt) for rt in routes):
                    found.setdefault(n.name, n)
        if (
            self.exits
            and self.internet.overlaps(iv)
            and any(addrs.contains(inet, iv) for inet in _INTERNET)
        ):
            for n in self.exits:
                found.setdefault(n.name, n)
        out = list(found.values())
        self._cache[iv] = out
        return out


def _cap_dsts(r: Resolver, node: Node, ivs: Sequence[Interval]) -> list[str]:
    found: set[Interval] = set()
    for v, lo, _ in r.ivs[node.name]:
        if any(iv[0] == v and iv[1] <= lo <= iv[2] for iv in ivs):
            found.add((v, lo, lo))
    routes = r.subnet_route_intervals(node)
    if routes:
        for iv in ivs:
            for p in addrs.split_prefixes(iv):
                if any(addrs.overlaps(p, rt) for rt in routes):
                    found.add(p)
    ordered = sorted(found, key=lambda p: (p[0], p[1], p[2] - p[1]))
    return [addrs.render_prefix(p) for p in ordered]


class _Compiler:
    def __init__(self, rules: RuleSet, r: Resolver) -> None:
        self.r = r
        self.rules = rules.rules
        self.targets = _Targets(r)
        self.first: dict[RuleKey, int] = {}
        self.per_node: dict[str, list[_Item]] = {n.name: [] for n in r.nodes}
        self.everyone: list[_Item] = []
        self.special: list[SelfRule | ViaRule] = []
        self._wire: dict[DstEntry, dict[str, Any]] = {}
        # merge keys numbered once: items carry the number (cheap to hash), and devices
        # share one SrcIPs list per key (read-only, like the DstPorts entries)
        self._kids: dict[RuleKey, int] = {}
        self._keys: list[RuleKey] = []
        self._src_lists: list[list[str]] = []
        self._kfirst: list[int] = []
        self._index()

    def _kid(self, key: RuleKey, pos: int) -> int:
        kid = self._kids.get(key)
        if kid is None:
            kid = self._kids[key] = len(self._keys)
            self._keys.append(key)
            self._src_lists.append(list(key[0]))
            self._kfirst.append(self.first.get(key, pos))
        return kid

    def _index(self) -> None:
        for rule in self.rules:
            if isinstance(rule, FilterRule):
                self.first.setdefault(rule.key, rule.pos)
        reached: list[tuple[_Item, list[Node] | None]] = []
        for rule in self.rules:
            if isinstance(rule, FilterRule):
                kid = self._kid(rule.key, rule.pos)
                gpos = self._kfirst[kid]
                for i, e in enumerate(rule.dsts):
                    item: _Item = (gpos, rule.block, e.sort_key, rule.pos, 0, i, kid, e)
                    targets = None if e.iv is None else self.targets(e.iv, internet=e.internet)
                    reached.append((item, targets))
            elif isinstance(rule, CapRule):
                nodes: dict[str, Node] = {}
                for ivs, _ in rule.grants:
                    for iv in ivs:
                        for n in self.targets(iv):
                            nodes.setdefault(n.name, n)
                cap: _Item = (rule.pos, rule.pos, (), rule.pos, 0, 0, None, rule)
                reached.append((cap, list(nodes.values())))
            else:
                self.special.append(rule)
        # sorted once for the whole tailnet: each device's list is then already in order
        reached.sort(key=lambda x: _ORDER(x[0]))
        for item, targets in reached:
            if targets is None:
                self.everyone.append(item)
            else:
                for n in targets:
                    self.per_node[n.name].append(item)

    def _expand_self(self, rule: SelfRule, node: Node) -> list[_Item]:
        same = self.r.same_user(node)
        srcs = [n for n in same if rule.srcset.contains_node(self.r.ivs[n.name])]
        if not srcs:
            return []
        src_ivs: list[Interval] = []
        for n in srcs:
            src_ivs.extend(self.r.ivs[n.name])
        src = tuple(self.r.tokens(src_ivs))
        mine = self.r.ivs[node.name]
        if rule.app is not None:
            return self._self_caps(rule, node, src, srcs)
        key: RuleKey = (src, rule.proto)
        gpos = min(self.first.get(key, rule.pos), rule.pos)
        kid = self._kid(key, rule.pos)
        out: list[_Item] = []
        i = 0
        for first, last in rule.ports:
            for iv in mine:
                entry = DstEntry(addrs.render(iv), iv, first, last)
                out.append((gpos, rule.block, entry.sort_key, rule.pos, 0, i, kid, entry))
                i += 1
        return out

    def _self_caps(
        self, rule: SelfRule, node: Node, src: tuple[str, ...], srcs: list[Node]
    ) -> list[_Item]:
        assert rule.app is not None
        mine = self.r.ivs[node.name]
        dsts = [addrs.render_prefix(iv) for iv in mine]
        caps: list[dict[str, Any]] = [
            {"SrcIPs": list(src), "CapGrant": [{"Dsts": dsts, "CapMap": rule.app}]}
        ]
        if any(n.name == node.name for n in srcs):
            owners: list[Interval] = []
            for n in self.r.same_user(node):
                owners.extend(self.r.ivs[n.name])
            owner_ips = self.r.tokens(owners)
            for cap in sorted(rule.app):
                companion = COMPANIONS.get(cap)
                if companion:
                    grant = {"Dsts": dsts, "CapMap": {companion: None}}
                    caps.append({"SrcIPs": owner_ips, "CapGrant": [grant]})
        return [(rule.pos, rule.pos, (), rule.pos, i, 0, None, c) for i, c in enumerate(caps)]

    def via_prefixes(self, rule: ViaRule, node: Node) -> list[str]:
        """Destinations of a via rule this device routes (empty: not its router)."""
        if not any(t in node.tags for t in rule.via):
            return []
        routes = self.r.subnet_route_intervals(node)
        exits = [x for x in self.r.approved_routes(node) if addrs.is_exit_route(x)]
        prefixes: list[str] = []
        for d in rule.dst_aliases:
            if d == "autogroup:internet":
                prefixes.extend(addrs.canonical(x) for x in exits)
                continue
            for target in self.r.dst_targets(d):
                iv = addrs.parse_interval(target)
                if iv is not None and any(addrs.overlaps(iv, rt) for rt in routes):
                    prefixes.append(target)
        return prefixes

    def via_pairs(self) -> list[tuple[tuple[str, ...], list[str]]]:
        """(SrcIPs, router names) of every via rule: they see each other as peers."""
        out = []
        for rule in self.special:
            if isinstance(rule, ViaRule):
                routers = [n.name for n in self.r.nodes if self.via_prefixes(rule, n)]
                if routers:
                    out.append((rule.src, routers))
        return out

    def _expand_via(self, rule: ViaRule, node: Node) -> list[_Item]:
        prefixes = self.via_prefixes(rule, node)
        out: list[_Item] = []
        if not prefixes:
            return out
        for sub, spec in enumerate(rule.specs):
            key: RuleKey = (rule.src, spec.proto)
            gpos = min(self.first.get(key, rule.pos), rule.pos)
            kid = self._kid(key, rule.pos)
            i = 0
            for p in prefixes:
                for first, last in spec.ports:
                    entry = DstEntry(p, addrs.parse_interval(p), first, last)
                    out.append((gpos, rule.block, (), rule.pos, sub, i, kid, entry))
                    i += 1
        return out

    def node_filter(self, node: Node) -> list[dict[str, Any]]:
        items = self.per_node[node.name]  # already in order (sorted once in _index)
        if self.everyone:
            items = items + self.everyone
            items.sort(key=_ORDER)  # two sorted runs: a linear merge
        special: list[_Item] = []
        for rule in self.special:
            if isinstance(rule, SelfRule):
                special.extend(self._expand_self(rule, node))
            else:
                special.extend(self._expand_via(rule, node))
        if special:
            items = self._with_special(items, special)
        return self._render(items, node)

    def _with_special(self, items: list[_Item], special: list[_Item]) -> list[_Item]:
        first: dict[int, int] = {}
        for it in special:
            if it[6] is not None:
                first[it[6]] = min(first.get(it[6], it[0]), it[0])
        for kid, pos in first.items():
            key = self._keys[kid]
            if key in self.first and self.first[key] > pos:
                items = [(pos, *it[1:]) if it[6] == kid else it for it in items]
        items = items + [(first[it[6]], *it[1:]) if it[6] is not None else it for it in special]
        items.sort(key=_ORDER)
        return items

    def _render(self, items: list[_Item], node: Node) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        by_key: dict[int, dict[str, Any]] = {}
        wires = self._wire
        for *_, kid, payload in items:
            if kid is None:
                rendered = self._cap(payload, node)
                if rendered is not None:
                    out.append(rendered)
                continue
            merged = by_key.get(kid)
            if merged is None:
                merged = {"SrcIPs": self._src_lists[kid], "DstPorts": []}
                proto = self._keys[kid][1]
                if proto:
                    merged["IPProto"] = list(proto)
                by_key[kid] = merged
                out.append(merged)
            wire = wires.get(payload)
            if wire is None:
                wire = wires[payload] = payload.wire()
            merged["DstPorts"].append(wire)
        return out

    def _cap(self, payload: Any, node: Node) -> dict[str, Any] | None:
        if isinstance(payload, dict):
            return payload
        rule: CapRule = payload
        grants = []
        for ivs, capmap in rule.grants:
            dsts = _cap_dsts(self.r, node, ivs)
            if dsts:
                grants.append({"Dsts": dsts, "CapMap": capmap})
        if not grants:
            return None
        return {"SrcIPs": list(rule.src), "CapGrant": grants}


FilterCompiler = _Compiler
"""Public name: ``FilterCompiler(build_rules(policy, r), r).node_filter(node)``."""


def compile_nodes(policy: Policy, resolver: Resolver, *, check_url: str) -> CompiledPolicy:
    """Compile every device of ``resolver``.

    See :func:`tailcfg.policy.compile.engine.compile_policy`.
    """
    c = _Compiler(build_rules(policy, resolver), resolver)
    filters = {n.name: c.node_filter(n) for n in resolver.nodes}
    for name, rules in recorder.upload_rules(policy, resolver).items():
        filters[name] = [*filters[name], *rules]
    peers = peer_map(resolver, filters, c.via_pairs())
    out: dict[str, CompiledNode] = {}
    sshc = SshCompiler(policy, resolver, check_url=check_url)
    for n in resolver.nodes:
        ssh = sshc.for_node(n)
        out[n.name] = CompiledNode(n.name, filters[n.name], ssh, peers[n.name])
    return CompiledPolicy(out)
