"""The devices tests are evaluated on: the real topology plus stand-ins.

Without ``--nodes`` every identity is symbolic: one stand-in device per user the policy
knows and per tag of ``tagOwners``. With ``--nodes`` the real devices are used, and a
stand-in is added only for an identity that has no device. A test destination that is
an address no device holds (nor routes) gets a stand-in *router* advertising exactly that
address, so only rules naming the address (or ``*``) reach it, as for a real subnet host.

Stand-in addresses come from the CGNAT and Tailscale ULA ranges, skipping every address
the policy names in a literal smaller than a /16 (so a stand-in never matches a rule
written for one particular host), and every address a real device has.

Verdicts come from the compiled packet filter / SSH policy of the destination device,
exactly what the device would enforce.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tailcfg.policy.compile.compiled import CompiledPolicy
from tailcfg.policy.compile.per_device import compile_nodes
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.evaluate.filter_match import (
    Addr,
    DeviceIndex,
    PacketFilter,
    SrcCache,
    SshMatcher,
    parse_range,
)
from tailcfg.policy.evaluate.provenance import Provenance
from tailcfg.policy.evaluate.spec import Kind, Names, classify
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy

STANDIN = "~"  # prefix of stand-in device names (never a real hostname)
CHECK_URL = "https://unused/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID"
_SMALL = 1 << 16
_CHROMEOS = (
    4,
    int(ipaddress.IPv4Address("100.115.92.0")),
    int(ipaddress.IPv4Address("100.115.93.255")),
)
_V4_START = int(ipaddress.IPv4Address("100.96.0.1"))
_V6_START = int(ipaddress.IPv6Address("fd7a:115c:a1e0:5e::1"))


def node_addrs(node: Node) -> tuple[Addr, ...]:
    out = []
    for a in node.addresses:
        try:
            family, lo, _ = parse_range(a)[0]
        except ValueError:
            continue
        out.append((family, lo))
    return tuple(out)


def _address_like(value: Any) -> list[str]:
    """Every string (keys too) nested in ``value`` that may be an address literal."""
    out: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(str(k) for k in v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and v and (v[0].isdigit() or v[0] == "[" or "::" in v):
            out.append(v)
    return out


def _literal(text: str) -> addrs.Interval | None:
    s = text.strip()
    for cand in (s, s.rpartition(":")[0], s.strip("[]"), s.partition("]")[0].lstrip("[")):
        if cand and (iv := addrs.parse_interval(cand)) is not None:
            return iv
    return None


def _user_refs(policy: Policy) -> Iterator[str]:
    for named in (*policy.groups.values(), *policy.tag_owners.values()):
        yield from (m.text for m in named.members)
    for acl in policy.acls:
        yield from (r.text for r in acl.src)
        yield from (r.text.rpartition(":")[0] for r in acl.dst)
    for grant in policy.grants:
        yield from (r.text for r in (*grant.src, *grant.dst))
    for s in policy.ssh:
        yield from (r.text for r in (*s.src, *s.dst))
    for approvers in policy.auto_approvers.routes.values():
        yield from (r.text for r in approvers)
    yield from (r.text for r in policy.auto_approvers.exit_node)


def _test_users(policy: Policy) -> Iterator[str]:
    """Users that ``tests`` and ``sshTests`` name as sources (and sshTests destinations)."""
    for t in policy.tests:
        if t.src is not None:
            yield t.src.text
        for ref in (*t.accept, *t.deny):
            yield ref.text.strip().rpartition(":")[0]
    for st in policy.ssh_tests:
        if st.src is not None:
            yield st.src.text
        yield from (d.text for d in st.dst)


def policy_names(policy: Policy, nodes: Sequence[Node], *, symbolic: bool = False) -> Names:
    """The users, groups, tags and hosts a test may name.

    The tailnet's users are the policy's (the captures give them) or, failing that, every
    user the rules name. ``symbolic`` (no ``--nodes``, no user list): offline, tailcfg cannot
    know the tailnet's users, so a user a test names is taken to be one (any login form:
    ``name@example.com``, ``name@github``, ``name@passkey``), with a device of its own.
    """
    if policy.users:
        users = {u.strip().lower() for u in policy.users}
    else:
        refs = set(_user_refs(policy))
        if symbolic:
            refs.update(_test_users(policy))
        users = {t.strip().lower() for t in refs if classify(t.strip()).kind is Kind.USER}
    users |= {n.user.lower() for n in nodes if n.user and not n.tags}
    return Names(
        users=frozenset(users),
        groups={k: tuple(m.text.strip() for m in v.members) for k, v in policy.groups.items()},
        tags=frozenset(policy.tag_owners),
        hosts={k: h.value.text.strip() for k, h in policy.hosts.items()},
    )


class _Allocator:
    """Hands out stand-in addresses that no rule names specifically."""

    def __init__(self, policy: Policy, nodes: Sequence[Node]) -> None:
        taken: list[addrs.Interval] = [_CHROMEOS]
        for s in set(_address_like(dict(policy.raw))):
            iv = _literal(s)
            if iv is not None and iv[2] - iv[1] < _SMALL:
                taken.append(iv)
        for n in nodes:
            taken.extend((v, x, x) for v, x in node_addrs(n))
        merged = addrs.merge(taken)
        self._keys = [(v, lo) for v, lo, _ in merged]
        self._his = [hi for _, _, hi in merged]
        self._next = {4: _V4_START, 6: _V6_START}

    def _free(self, version: int, value: int) -> bool:
        i = bisect.bisect_right(self._keys, (version, value)) - 1
        return not (i >= 0 and self._keys[i][0] == version and value <= self._his[i])

    def take(self, version: int) -> str:
        value = self._next[version]
        while not self._free(version, value):
            value += 1
        self._next[version] = value + 1
        return addrs.addr_str(version, value)

    def pair(self) -> tuple[str, str]:
        return self.take(4), self.take(6)


@dataclass(frozen=True, slots=True)
class SrcPoint:
    """One source: a device of the src identity, or the src address itself."""

    label: str
    addrs: tuple[Addr, ...]
    node: Node | None = None


@dataclass(frozen=True, slots=True)
class Holder:
    """A device whose filter decides traffic to an address, and the addresses it serves."""

    node: Node
    addrs: tuple[Addr, ...]


class World:
    """Devices (real + stand-ins), their resolver and their compiled filters."""

    def __init__(
        self,
        policy: Policy,
        nodes: Sequence[Node] | None,
        *,
        dst_literals: Iterable[str] = (),
        standin_roles: tuple[str, ...] = (),
        for_tests: bool = False,
    ) -> None:
        """``for_tests``: the world of ``tests``/``sshTests`` (without ``nodes``, users the
        tests name are users, and an unheld address gets its most likely holder)."""
        self.policy = policy
        self.topology = nodes is not None
        self.standin_roles = standin_roles
        real = tuple(nodes or ())
        self.names = policy_names(policy, real, symbolic=for_tests and not self.topology)
        extra = _standins(policy, self.names, real, dst_literals, standin_roles, likely=for_tests)
        self.nodes: tuple[Node, ...] = real + tuple(extra)
        self.standins = frozenset(n.name for n in extra)
        self.resolver = Resolver(policy, self.nodes)
        self._compiled: CompiledPolicy | None = None
        self._filters: dict[str, PacketFilter] = {}
        self._ssh: dict[str, SshMatcher] = {}
        self._devices: dict[str, tuple[Node, ...]] = {}
        self._holders: dict[str, list[Holder]] = {}
        self._device_holders: dict[str, Holder] = {}
        self._points: dict[str, SrcPoint] = {}
        self._src_cache: SrcCache = {}
        self._tagged_by: dict[str, list[Node]] = {}
        for n in self.nodes:
            for tag in n.tags:
                self._tagged_by.setdefault(tag, []).append(n)
        self._bits = {n.name: 1 << i for i, n in enumerate(self.nodes)}
        device_addrs = [node_addrs(n) for n in self.nodes]
        self._addrs = {id(n): a for n, a in zip(self.nodes, device_addrs, strict=True)}
        self.index = DeviceIndex(device_addrs)
        self._provenance: Provenance | None = None

    # ---- compiled views ---------------------------------------------------------

    @property
    def compiled(self) -> CompiledPolicy:
        if self._compiled is None:
            self._compiled = compile_nodes(self.policy, self.resolver, check_url=CHECK_URL)
        return self._compiled

    def prepare(self) -> World:
        """Build every index now (compile, per-device filters, provenance), not on demand."""
        for node in self.nodes:
            self.packet_filter(node).warm(self.index)
        self.provenance.warm()
        return self

    @property
    def provenance(self) -> Provenance:
        """Policy-level rule matching (built once, on first use)."""
        if self._provenance is None:
            self._provenance = Provenance(self.policy, self.resolver)
        return self._provenance

    def bit(self, node: Node) -> int:
        """The device's bit in :attr:`index` masks."""
        return self._bits[node.name]

    def packet_filter(self, node: Node) -> PacketFilter:
        pf = self._filters.get(node.name)
        if pf is None:
            pf = PacketFilter(
                self.compiled.nodes[node.name].packet_filter, src_cache=self._src_cache
            )
            self._filters[node.name] = pf
        return pf

    def ssh(self, node: Node) -> SshMatcher:
        m = self._ssh.get(node.name)
        if m is None:
            m = SshMatcher(self.compiled.nodes[node.name].ssh_policy.get("rules") or [])
            self._ssh[node.name] = m
        return m

    # ---- identities -------------------------------------------------------------

    def devices(self, alias: str) -> tuple[Node, ...]:
        """Devices an identity alias stands for (users, groups, tags, autogroups, ``*``)."""
        hit = self._devices.get(alias)
        if hit is None:
            hit = self._devices[alias] = self._find_devices(alias.strip())
        return hit

    def _find_devices(self, a: str) -> tuple[Node, ...]:
        if a == "autogroup:member":
            return tuple(n for n in self.nodes if not n.tags and n.user)
        if a == "autogroup:tagged":
            return tuple(n for n in self.nodes if n.tags)
        if a in ("*", "autogroup:danger-all"):
            return tuple(n for n in self.nodes if n.tags or n.user)
        kind = classify(a).kind
        if kind is Kind.USER:
            return self.resolver.user_devices(a)
        if kind is Kind.TAG:
            return tuple(n for n in self._tagged_by.get(a, ()))
        if kind is Kind.GROUP:
            found: dict[str, Node] = {}
            for member in self.names.groups.get(a, ()):
                for n in self.resolver.user_devices(member):
                    found.setdefault(n.name, n)
            return tuple(found.values())
        return self.resolver.devices_for(a)

    def same_owner(self, node: Node) -> tuple[Node, ...]:
        return self.resolver.same_user(node)

    def holders(self, literal: str) -> list[Holder]:
        """Who enforces traffic to an address: its device, else the routers covering it."""
        hit = self._holders.get(literal)
        if hit is None:
            hit = self._holders[literal] = self._find_holders(literal)
        return hit

    def _find_holders(self, literal: str) -> list[Holder]:
        parsed = addrs.parse_addr(literal)
        if parsed is None:
            return []
        owner = self.resolver.node_by_ip(literal)
        if owner is not None:
            return [Holder(owner, (parsed,))]
        iv = (parsed[0], parsed[1], parsed[1])
        return [Holder(n, (parsed,)) for n in _routers(self.resolver, iv)]

    def src_point(self, node: Node) -> SrcPoint:
        hit = self._points.get(node.name)
        if hit is None:
            own = self._addrs.get(id(node))
            if own is None:
                own = node_addrs(node)
            hit = self._points[node.name] = SrcPoint(self.label(node), own, node)
        return hit

    def device_holder(self, node: Node) -> Holder:
        hit = self._device_holders.get(node.name)
        if hit is None:
            own = self._addrs.get(id(node))
            if own is None:
                own = node_addrs(node)
            hit = self._device_holders[node.name] = Holder(node, own)
        return hit

    def label(self, node: Node) -> str:
        """A device's name for messages (stand-ins read as their identity)."""
        if node.name in self.standins:
            return node.name[len(STANDIN) :]
        return node.name


def _standins(
    policy: Policy,
    names: Names,
    real: tuple[Node, ...],
    dst_literals: Iterable[str],
    roles: tuple[str, ...] = (),
    *,
    likely: bool = False,
) -> list[Node]:
    """A device for each identity without one, and a router for each unheld address.

    A stand-in user's device carries ``roles`` (the roles its user is assumed to hold).
    ``likely``: an unheld address gets its most likely holder (:func:`_address_standin`),
    else an untagged router routing exactly it.
    """
    alloc = _Allocator(policy, real)
    r = Resolver(policy, real)
    extra: list[Node] = []
    for user in sorted(names.users):
        if not r.user_devices(user):
            v4, v6 = alloc.pair()
            extra.append(Node(f"{STANDIN}{user}", v4, v6, user=user, roles=roles))
    for tag in sorted(names.tags):
        if not r.devices_for(tag):
            v4, v6 = alloc.pair()
            extra.append(Node(f"{STANDIN}{tag}", v4, v6, tags=(tag,)))
    for name in _test_services(policy):
        if not r.service_intervals(name):
            v4, v6 = alloc.pair()
            host = Node(f"{STANDIN}{name}", v4, v6)
            extra.append(host.with_service(name, alloc.pair()))
    for lit in dict.fromkeys(dst_literals):
        iv = addrs.parse_interval(lit)
        if iv is None or r.node_by_ip(lit) is not None or _routers(r, iv):
            continue
        v4, v6 = alloc.pair()
        if likely:
            extra.append(_address_standin(policy, f"{STANDIN}{lit}", v4, v6, iv))
        else:
            route = addrs.render_prefix(iv)
            extra.append(
                Node(f"{STANDIN}{lit}", v4, v6, routable_ips=(route,), approved_routes=(route,))
            )
    return extra


_INTERNET = [iv for t in addrs.INTERNET_DST if (iv := addrs.parse_interval(t))]
_EXIT_ROUTES = ("0.0.0.0/0", "::/0")


def _address_standin(policy: Policy, name: str, v4: str, v6: str, iv: addrs.Interval) -> Node:
    """Who holds an address no device has nor routes, as the real tailnet most likely would.

    - a prefix of ``autoApprovers.routes`` covers it: a subnet router with the approvers'
      tags (the router that would advertise the prefix), routing exactly the address;
    - an internet address: an exit node (it is reached through one);
    - else: an untagged router routing exactly the address, so only rules naming the
      address (or ``*``) reach it.
    """
    tags: dict[str, None] = {}
    for prefix, approvers in policy.auto_approvers.routes.items():
        piv = addrs.parse_interval(prefix)
        if piv is None or addrs.is_exit_route(prefix) or not addrs.contains(piv, iv):
            continue
        for ref in approvers:
            if ref.text.strip().startswith("tag:"):
                tags.setdefault(ref.text.strip())
    if not tags and any(addrs.contains(inet, iv) for inet in _INTERNET):
        return Node(name, v4, v6, routable_ips=_EXIT_ROUTES, approved_routes=_EXIT_ROUTES)
    route = addrs.render_prefix(iv)
    return Node(name, v4, v6, tags=tuple(tags), routable_ips=(route,), approved_routes=(route,))


def _test_services(policy: Policy) -> list[str]:
    """Services (``svc:NAME``) that ``tests`` destinations name, in first-seen order."""
    found: dict[str, None] = {}
    for t in policy.tests:
        for ref in (*t.accept, *t.deny):
            host = ref.text.strip().rpartition(":")[0]
            if host.startswith("svc:"):
                found.setdefault(host)
    return list(found)


def _routers(r: Resolver, iv: addrs.Interval) -> list[Node]:
    inside_tailnet = addrs.contains(addrs.CGNAT, iv) or addrs.contains(addrs.TAILSCALE_ULA, iv)
    subnet: list[Node] = []
    exits: list[Node] = []
    for n in r.nodes:
        for route in r.approved_routes(n):
            riv = addrs.parse_interval(route)
            if riv is None or not addrs.contains(riv, iv):
                continue
            if addrs.is_exit_route(route):
                if not inside_tailnet:
                    exits.append(n)
            else:
                subnet.append(n)
            break
    return subnet or exits
