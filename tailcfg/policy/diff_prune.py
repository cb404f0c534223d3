"""Cut both policies down to the rules that can matter to a diff, before compiling.

A diff only changes at devices that some *changed* rule reaches. A rule is changed when
no rule of the other side means the same (same action, aliases, ports, users, compared
as sets), or when it names a group, host, ipset or posture whose declaration changed.
The *dirty* devices are those the changed rules' destinations reach (own addresses or a
served route); every rule, changed or not, whose destinations reach a dirty device is
kept, so each dirty device's compiled filter and SSH policy stay exact on both sides;
at every other device both sides compile the same kept rules, so they compare equal.

A change of autoApprovers makes the devices whose approved routes differ dirty, and,
when the tailnet's subnet routes differ, every rule from ``*`` changed (its sources
list them). Anything whose reach is not a plain destination alias (``*``, ``via``
routing, a policy without acls and grants) keeps the whole policies.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

from tailcfg.policy import addrs
from tailcfg.policy.addrs import Interval
from tailcfg.policy.diff_decl import sections
from tailcfg.policy.model import AclRule, Grant, Policy, SshRule
from tailcfg.policy.nodes import Node
from tailcfg.policy.ports import PortError, parse_dst
from tailcfg.policy.resolve import Resolver

_NAMED = ("groups", "hosts", "ipsets", "postures")


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
    return None if "*" in out else out


def _changed_names(old: Policy, new: Policy) -> frozenset[str]:
    out: set[str] = set()
    for (section, before), (_, after) in zip(sections(old), sections(new), strict=True):
        if section in _NAMED:
            out.update(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return frozenset(out)


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


def prune(
    old: Policy,
    new: Policy,
    nodes: Sequence[Node],
    *,
    resolvers: tuple[Resolver, Resolver] | None = None,
) -> tuple[Policy, Policy, frozenset[str] | None]:
    """(old', new', dirty devices) — or the policies unchanged and None when it cannot.

    ``resolvers``: the two policies' resolvers over ``nodes``, when already built."""
    whole = (old, new, None)
    if not (old.has_acls or old.has_grants) or not (new.has_acls or new.has_grants):
        return whole
    changed_names = _changed_names(old, new)
    keys = [{_key(r) for r in _rules(p)} for p in (old, new)]
    pair = resolvers or (Resolver(old, nodes), Resolver(new, nodes))
    reach = [_Reach(r) for r in pair]
    # autoApprovers: devices whose approved routes differ are dirty; when the tailnet's
    # subnet routes differ, so is every rule from "*" (its SrcIPs list them).
    dirty = {n.name for n in nodes if pair[0].approved_routes(n) != pair[1].approved_routes(n)}
    star = pair[0].approved_subnet_routes != pair[1].approved_subnet_routes
    for side, p in enumerate((old, new)):
        for rule in _rules(p):
            same = _key(rule) in keys[1 - side] and not (_names_in(rule) & changed_names)
            if same and not (star and _from_star(rule)):
                continue
            aliases = _dst_aliases(rule)
            if aliases is None:
                return whole
            for alias in aliases:
                dirty |= reach[side].devices(alias)
    pruned = tuple(_keep(p, reach[side], dirty) for side, p in enumerate((old, new)))
    return pruned[0], pruned[1], frozenset(dirty)


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
