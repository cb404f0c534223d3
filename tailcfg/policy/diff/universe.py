"""The devices a diff compares on: the ``--nodes`` topology plus stand-ins for both sides.

:func:`build_universe` builds one :class:`Universe` for two policies: the real devices
(if any), a stand-in device for every user and tag either policy names that has none,
and a stand-in router for every address a rule names as a destination that no device
holds or routes (see :mod:`tailcfg.policy.evaluate.world`); ``autogroup:internet`` gets
stand-in exit nodes. :meth:`Universe.side` compiles one policy on those devices, device
by device and only when asked (a diff reads the filters of the devices that can differ).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailcfg.policy.compile.filters import build_rules
from tailcfg.policy.compile.per_device import FilterCompiler
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.compile.ssh import SshCompiler
from tailcfg.policy.diff.prune import Pruned
from tailcfg.policy.evaluate.filter_match import DeviceIndex
from tailcfg.policy.evaluate.world import STANDIN, World, node_addrs
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import AutoApprovers, Loc, NamedList, Policy, Ref
from tailcfg.policy.model.ports import PortError, parse_dst
from tailcfg.source import Span

CHECK_URL = "https://unused"

# Without --nodes, identities the policies never name still hold devices: a rule on
# `*`, autogroup:member or autogroup:tagged reaches them. One stand-in user and one
# stand-in tag represent "everybody else", so such a change is not invisible.
OTHER_USER = "other-user@stand-in.invalid"
OTHER_TAG = "tag:other-tag"
_NOWHERE = Loc(Span("<stand-in>", 1, 1, 1, 1))


class Filters:
    """One policy's packet filters on the universe's devices, compiled lazily, device by
    device, by the engine's lower layers (``build_rules`` + ``FilterCompiler``)."""

    __slots__ = ("_compiler", "_done", "policy", "resolver")

    def __init__(self, policy: Policy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self._compiler: FilterCompiler | None = None
        self._done: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, node: Node) -> list[dict[str, Any]]:
        hit = self._done.get(node.name)
        if hit is None:
            if self._compiler is None:
                rules = build_rules(self.policy, self.resolver)
                self._compiler = FilterCompiler(rules, self.resolver)
            hit = self._done[node.name] = self._compiler.node_filter(node)
        return hit


class Side:
    """One policy compiled on the universe's devices, lazily, device by device.

    Only the devices asked for are compiled, and peers never (a diff does not read
    them). ``filters``: the parts a device's packet filter is the union of (default:
    the whole policy's); a diff shares the part both sides hold alike."""

    __slots__ = ("_filters", "_ssh", "_ssh_policies", "policy", "resolver")

    def __init__(self, policy: Policy, resolver: Resolver, filters: Sequence[Filters] = ()) -> None:
        self.policy = policy
        self.resolver = resolver
        self._filters = tuple(filters) or (Filters(policy, resolver),)
        self._ssh: SshCompiler | None = None
        self._ssh_policies: dict[str, dict[str, Any]] = {}

    def packet_filter(self, node: Node) -> list[dict[str, Any]]:
        """``node``'s packet filter (tailcfg.FilterRule list; read-only). Made of several
        parts, it admits what the engine's would, rules merged differently."""
        if len(self._filters) == 1:
            return self._filters[0](node)
        return [rule for part in self._filters for rule in part(node)]

    def filter_parts(self, node: Node) -> list[list[dict[str, Any]]]:
        """The parts of :meth:`packet_filter` (a part shared with the other side is the
        same list object on both)."""
        return [part(node) for part in self._filters]

    def ssh_policy(self, node: Node) -> dict[str, Any]:
        """``node``'s SSH policy (``{"rules": [...]}``; read-only)."""
        hit = self._ssh_policies.get(node.name)
        if hit is None:
            if self._ssh is None:
                self._ssh = SshCompiler(self.policy, self.resolver, check_url=CHECK_URL)
            hit = self._ssh_policies[node.name] = self._ssh.for_node(node)
        return hit


@dataclass(slots=True)
class Universe:
    """The devices both sides are compiled on, and an index of them as sources.

    Stand-in routers have no user and no tag (so they count as ``autogroup:member`` in
    the engine); they are sources like any device but :attr:`hidden` from reports.
    """

    nodes: tuple[Node, ...]
    standins: frozenset[str]
    topology: bool
    sources: tuple[Node, ...] = ()
    hidden: frozenset[str] = frozenset()  # stand-in routers: sources, never shown
    index: DeviceIndex = field(init=False)
    device_addrs: frozenset[tuple[int, int]] = field(init=False)
    by_addr: dict[tuple[int, int], int] = field(init=False)

    def __post_init__(self) -> None:
        self.sources = self.nodes
        self.hidden = frozenset(n.name for n in self.nodes if not (n.tags or n.user))
        self.index = DeviceIndex([node_addrs(n) for n in self.sources])
        self.by_addr = {a: i for i, n in enumerate(self.sources) for a in node_addrs(n)}
        self.device_addrs = frozenset(self.by_addr)

    def label(self, name: str) -> str:
        """A device's name for people (stand-ins read as what they stand for)."""
        return name[len(STANDIN) :] if name in self.standins else name

    def side(self, policy: Policy, *, resolver: Resolver | None = None) -> Side:
        """Compile ``policy`` on these devices (``resolver``: one built for a policy with
        the same declarations, e.g. before :func:`~tailcfg.policy.diff.prune.prune`)."""
        return Side(policy, resolver or Resolver(policy, self.nodes))


def _ipset_prefixes(resolver: Resolver, name: str) -> Iterator[str]:
    """An ipset's addresses (adds minus removes, nested sets and hosts) as CIDR prefixes."""
    for target in resolver.dst_targets(name):
        iv = addrs.parse_interval(target)
        if iv is None:
            continue
        version, lo, hi = iv
        cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for net in ipaddress.summarize_address_range(cls(lo), cls(hi)):
            yield str(net)


def _dst_literals(policy: Policy, *, symbolic: bool) -> Iterator[str]:
    hosts = {k: h.value.text.strip() for k, h in policy.hosts.items()}
    refs: list[Ref] = [d for a in policy.acls for d in a.dst]
    names = [_alias(r.text) for r in refs] + [d.text.strip() for g in policy.grants for d in g.dst]
    ipsets: Resolver | None = None
    for name in names:
        if name == "autogroup:internet":
            yield from ("0.0.0.0/0", "::/0")
        elif symbolic and name in policy.ipsets:
            # Without --nodes nothing holds an ipset's addresses: stand-in routers do.
            ipsets = ipsets or Resolver(policy, ())
            yield from _ipset_prefixes(ipsets, name)
        elif name in hosts:
            yield hosts[name]
        elif addrs.parse_interval(name) is not None:
            yield name


def _alias(text: str) -> str:
    try:
        return parse_dst(text).alias.strip()
    except PortError:
        return ""


def _merged(a: Mapping[str, NamedList], b: Mapping[str, NamedList]) -> dict[str, NamedList]:
    out = dict(a)
    for name, entry in b.items():
        prev = out.get(name)
        out[name] = (
            entry
            if prev is None
            else dataclasses.replace(entry, members=prev.members + entry.members)
        )
    return out


def _union_policy(old: Policy, new: Policy) -> Policy:
    """A policy naming every identity and literal of both sides (for stand-ins only)."""
    routes: dict[str, tuple[Ref, ...]] = {}
    for p in (old, new):
        for prefix, approvers in p.auto_approvers.routes.items():
            routes[prefix] = routes.get(prefix, ()) + approvers
    groups, owners = _merged(old.groups, new.groups), _merged(old.tag_owners, new.tag_owners)
    return dataclasses.replace(
        new,
        raw={"old": dict(old.raw), "new": dict(new.raw)},
        acls=old.acls + new.acls,
        grants=old.grants + new.grants,
        ssh=old.ssh + new.ssh,
        groups=groups,
        tag_owners=owners,
        hosts={**old.hosts, **new.hosts},
        auto_approvers=AutoApprovers(
            routes, old.auto_approvers.exit_node + new.auto_approvers.exit_node
        ),
        users=(),  # every user either side names gets a device (stand-in if none)
    )


def _with_others(policy: Policy) -> Policy:
    """``policy`` also naming :data:`OTHER_USER` and :data:`OTHER_TAG` (stand-ins only)."""
    groups = dict(policy.groups)
    name = "group:~other-users"
    groups[name] = NamedList(name, (Ref(OTHER_USER, _NOWHERE),), _NOWHERE, _NOWHERE)
    owners = dict(policy.tag_owners)
    owners.setdefault(OTHER_TAG, NamedList(OTHER_TAG, (), _NOWHERE, _NOWHERE))
    return dataclasses.replace(policy, groups=groups, tag_owners=owners)


def build_universe(old: Policy, new: Policy, nodes: Sequence[Node] | None) -> Universe:
    """The devices to compare on: ``nodes`` (if any) plus stand-ins for both policies."""
    symbolic = nodes is None
    literals = sorted(
        set(_dst_literals(old, symbolic=symbolic)) | set(_dst_literals(new, symbolic=symbolic))
    )
    union = _union_policy(old, new)
    if nodes is None:
        union = _with_others(union)
    world = World(union, nodes, dst_literals=literals)
    return Universe(world.nodes, world.standins, nodes is not None)


def compile_sides(pruned: Pruned, resolvers: tuple[Resolver, Resolver]) -> tuple[Side, Side]:
    """Both sides of a pruned diff; the rules both hold alike are compiled once (their
    filter entries are equal on both sides, see :class:`~tailcfg.policy.diff.prune.Pruned`)."""
    if pruned.shared is None:
        return Side(pruned.old, resolvers[0]), Side(pruned.new, resolvers[1])
    common, old_own, new_own = pruned.shared
    both = Filters(common, resolvers[1])
    return (
        Side(pruned.old, resolvers[0], (both, Filters(old_own, resolvers[0]))),
        Side(pruned.new, resolvers[1], (both, Filters(new_own, resolvers[1]))),
    )
