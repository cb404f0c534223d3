"""Cut both policies down to the rules that can matter to a diff, before compiling.

A diff only changes at devices that some *changed* rule reaches. A rule is changed when
no rule of the other side means the same (same action, aliases, ports, users, compared
as sets), or when it names a group, host, ipset or posture whose declaration changed
(an ipset also when reordered, or when a host or ipset it names changed).
The *dirty* devices are those the changed rules' destinations reach (own addresses or a
served route); every rule, changed or not, whose destinations reach a dirty device is
kept, so each dirty device's compiled filter and SSH policy stay exact on both sides;
at every other device both sides compile the same kept rules, so they compare equal.

A change of autoApprovers makes the devices whose approved routes differ dirty, and,
when the tailnet's subnet routes differ, every rule from ``*`` changed (its sources
list them). A destination ``*`` reaches every device. Anything whose reach is not a
destination alias (``via`` routing, a policy without acls and grants) keeps the whole
policies.

When no approved route differs, unchanged rules mean the same on both sides:
:func:`prune_split` also returns the kept rules both sides hold alike (compiled once,
for both) and each side's own; from the shared part it drops the ACLs whose ports meet
no port of an own rule on any device they reach (their entries cannot touch a cell
that differs), when their sources are devices and their destinations route nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tailcfg.policy.compile.resolve import AliasKind, Resolver, alias_kind
from tailcfg.policy.diff.decl import sections
from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import AclRule, Grant, Policy, SshRule
from tailcfg.policy.model.ports import PortError, parse_dst

_NAMED = ("groups", "hosts", "ipsets", "postures")
_DEVICE_GROUPS = ("autogroup:member", "autogroup:tagged")


def _texts(refs: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted(r.text.strip() for r in refs))


def _key(rule: AclRule | Grant | SshRule) -> str:
    if isinstance(rule, AclRule):
        proto = rule.proto.text.strip() if rule.proto else ""
        return json.dumps(["acl", rule.action, _texts(rule.src), _texts(rule.dst), proto])
    if isinstance(rule, Grant):
        app = json.dumps(dict(rule.app), sort_keys=True, default=str)
        parts = [_texts(rule.src), _texts(rule.dst), _texts(rule.ip), _texts(rule.via), app]
        return json.dumps(["grant", *parts])
    users = _texts(rule.users)
    env = _texts(rule.accept_env)
    parts = [_texts(rule.src), _texts(rule.dst), users, rule.check_period or "", env]
    return json.dumps(["ssh", rule.action, *parts])


def _dst_aliases(rule: AclRule | Grant | SshRule) -> list[str] | None:
    """Destination aliases of a rule, or None when its reach is not a plain alias."""
    if isinstance(rule, Grant) and rule.via:
        return None
    if isinstance(rule, AclRule):
        try:
            out = [parse_dst(d.text).alias.strip() for d in rule.dst]
        except PortError:
            return None
    else:
        out = [d.text.strip() for d in rule.dst]
        if isinstance(rule, Grant) and rule.app:  # companion capabilities land on sources
            out += [s.text.strip() for s in rule.src]
    return out


def _changed_names(old: Policy, new: Policy) -> frozenset[str]:
    out: set[str] = set()
    for (section, before), (_, after) in zip(sections(old), sections(new), strict=True):
        if section in _NAMED:
            out.update(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    # an ipset's meaning follows its order (add/remove) and the hosts and ipsets it names
    members = [{k: _targets(v.members) for k, v in p.ipsets.items()} for p in (old, new)]
    ipsets_old, ipsets_new = members
    out.update(k for k in {*ipsets_old, *ipsets_new} if ipsets_old.get(k) != ipsets_new.get(k))
    grew = True
    while grew:
        grew = False
        for side in members:
            for name, targets in side.items():
                if name not in out and any(t in out for _, t in targets):
                    out.add(name)
                    grew = True
    return frozenset(out)


def _targets(refs: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    """An ipset's members in order, as (operation, target)."""
    out = []
    for ref in refs:
        op, _, target = ref.text.strip().partition(" ")
        if op not in ("add", "remove") or not target:
            op, target = "add", ref.text.strip()
        out.append((op, target.strip()))
    return tuple(out)


def _names_in(rule: AclRule | Grant | SshRule) -> set[str]:
    refs = [*rule.src, *rule.dst]
    out = set()
    for ref in refs:
        text = ref.text.strip()
        out.add(text)
        out.add(text.rpartition(":")[0])
    return out


class _Reach:
    """Which devices a destination alias reaches (own addresses or served routes)."""

    def __init__(self, r: Resolver) -> None:
        self.r = r
        self.routes: list[tuple[Node, list[Interval]]] = []
        for n in r.nodes:
            ivs = [iv for x in r.approved_routes(n) if (iv := addrs.parse_interval(x))]
            if ivs:
                self.routes.append((n, ivs))
        self.cache: dict[str, frozenset[str]] = {}

    def devices(self, alias: str) -> frozenset[str]:
        hit = self.cache.get(alias)
        if hit is None:
            hit = self.cache[alias] = frozenset(self._devices(alias))
        return hit

    def _devices(self, alias: str) -> Iterable[str]:
        if alias == "autogroup:self":
            return [n.name for n in self.r.members]
        ivs = self.r.dst_intervals(alias)
        found = {n.name for iv in ivs for n in self.r.nodes_in(iv)}
        for n, routes in self.routes:
            if any(addrs.overlaps(iv, rt) for iv in ivs for rt in routes):
                found.add(n.name)
        return found


def _rules(p: Policy) -> list[AclRule | Grant | SshRule]:
    return [*p.acls, *p.grants, *p.ssh]


@dataclass(frozen=True, slots=True)
class Pruned:
    """Both policies cut down to the rules reaching :attr:`dirty` devices (None: whole).

    :attr:`shared`, when the two sides resolve unchanged rules alike (no approved route
    differs): the kept rules both sides hold alike (``common``, compiled once for both)
    and each side's own kept rules, as policies ``(common, old_own, new_own)`` without
    SSH rules (packet filters only)."""

    old: Policy
    new: Policy
    dirty: frozenset[str] | None
    shared: tuple[Policy, Policy, Policy] | None = None


def prune(
    old: Policy,
    new: Policy,
    nodes: Sequence[Node],
    *,
    resolvers: tuple[Resolver, Resolver] | None = None,
) -> tuple[Policy, Policy, frozenset[str] | None]:
    """(old', new', dirty devices) — or the policies unchanged and None when it cannot.

    ``resolvers``: the two policies' resolvers over ``nodes``, when already built."""
    out = prune_split(old, new, nodes, resolvers=resolvers)
    return out.old, out.new, out.dirty


def prune_split(
    old: Policy,
    new: Policy,
    nodes: Sequence[Node],
    *,
    resolvers: tuple[Resolver, Resolver] | None = None,
) -> Pruned:
    """Like :func:`prune`, also splitting the kept rules into shared and own ones."""
    whole = Pruned(old, new, None)
    if not (old.has_acls or old.has_grants) or not (new.has_acls or new.has_grants):
        return whole
    changed_names = _changed_names(old, new)
    key_of = {id(r): _key(r) for p in (old, new) for r in _rules(p)}
    keys = [{key_of[id(r)] for r in _rules(p)} for p in (old, new)]
    pair = resolvers or (Resolver(old, nodes), Resolver(new, nodes))
    reach = [_Reach(r) for r in pair]
    # autoApprovers: devices whose approved routes differ are dirty; when the tailnet's
    # subnet routes differ, so is every rule from "*" (its SrcIPs list them).
    dirty = {n.name for n in nodes if pair[0].approved_routes(n) != pair[1].approved_routes(n)}
    same_routes = not dirty
    star = pair[0].approved_subnet_routes != pair[1].approved_subnet_routes
    same: list[set[str]] = [set(), set()]  # keys of the rules both sides hold alike
    for side, p in enumerate((old, new)):
        for rule in _rules(p):
            key = key_of[id(rule)]
            unchanged = key in keys[1 - side] and not (_names_in(rule) & changed_names)
            if unchanged and not (star and _from_star(rule)):
                same[side].add(key)
                continue
            aliases = _dst_aliases(rule)
            if aliases is None:
                return whole
            for alias in aliases:
                dirty |= reach[side].devices(alias)
    small = tuple(_keep(p, reach[side], dirty) for side, p in enumerate((old, new)))
    shared = None
    if same_routes:
        common, old_own, new_own = _split(small[0], small[1], same[1], key_of)
        routers = {n.name for n in nodes if pair[1].approved_routes(n)}
        common = _port_pruned(common, (old_own, new_own), reach[1], routers)
        shared = (common, old_own, new_own)
    return Pruned(small[0], small[1], frozenset(dirty), shared)


_DEVICE_SOURCES = (AliasKind.USER, AliasKind.GROUP, AliasKind.TAG)
_ALL_PORTS = ((0, 65535),)


def _dst_ports(rule: AclRule | Grant) -> list[tuple[str, tuple[tuple[int, int], ...]]]:
    """(destination alias, port ranges) of a rule; every port for a grant."""
    if not isinstance(rule, AclRule):
        return [(a, _ALL_PORTS) for a in _dst_aliases(rule) or ("*",)]
    out = []
    for d in rule.dst:
        try:
            spec = parse_dst(d.text)
        except PortError:
            return [("*", _ALL_PORTS)]
        out.append((spec.alias.strip(), spec.ports))
    return out


def _port_pruned(
    common: Policy, owns: tuple[Policy, Policy], reach: _Reach, routers: set[str]
) -> Policy:
    """``common`` without the ACLs whose ports meet no port of a side's own rule on any
    device they reach: their filter entries, equal on both sides, touch no cell that can
    differ. Only ACLs from devices (address ranges would cut the source atoms) to
    devices that route nothing (routes cut the destination atoms)."""
    near: dict[str, list[tuple[int, int]]] = {}
    for p in owns:
        rules: list[AclRule | Grant] = [*p.acls, *p.grants]
        for rule in rules:
            for alias, ranges in _dst_ports(rule):
                devices = reach.devices(alias) if alias != "*" else {n.name for n in reach.r.nodes}
                for d in devices:
                    near.setdefault(d, []).extend(ranges)

    def needed(acl: AclRule) -> bool:
        for s in acl.src:
            text = s.text.strip()
            if alias_kind(text) not in _DEVICE_SOURCES and text not in _DEVICE_GROUPS:
                return True
        for alias, ranges in _dst_ports(acl):
            if alias == "*":
                return True
            for d in reach.devices(alias):
                if d in routers:
                    return True
                if any(a <= y and x <= b for a, b in ranges for x, y in near.get(d, ())):
                    return True
        return False

    return dataclasses.replace(common, acls=tuple(r for r in common.acls if needed(r)))


def _split(
    old: Policy, new: Policy, same: set[str], key_of: dict[int, str]
) -> tuple[Policy, Policy, Policy]:
    """(rules of ``new`` both hold alike, ``old``'s other rules, ``new``'s other rules)."""
    common_acls = tuple(r for r in new.acls if key_of[id(r)] in same)
    common_grants = tuple(r for r in new.grants if key_of[id(r)] in same)
    held = {key_of[id(r)] for r in (*common_acls, *common_grants)}

    def own(p: Policy) -> Policy:
        acls = tuple(r for r in p.acls if key_of[id(r)] not in held)
        grants = tuple(r for r in p.grants if key_of[id(r)] not in held)
        return dataclasses.replace(p, acls=acls, grants=grants, ssh=())

    common = dataclasses.replace(new, acls=common_acls, grants=common_grants, ssh=())
    return common, own(old), own(new)


def _from_star(rule: AclRule | Grant | SshRule) -> bool:
    return not isinstance(rule, SshRule) and any(s.text.strip() == "*" for s in rule.src)


def _keep(p: Policy, reach: _Reach, dirty: set[str]) -> Policy:
    def hits(rule: AclRule | Grant | SshRule) -> bool:
        aliases = _dst_aliases(rule)
        return aliases is None or any(reach.devices(a) & dirty for a in aliases)

    return dataclasses.replace(
        p,
        acls=tuple(r for r in p.acls if hits(r)),
        grants=tuple(r for r in p.grants if hits(r)),
        ssh=tuple(r for r in p.ssh if hits(r)),
    )
