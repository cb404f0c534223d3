"""Alias resolution with the server's semantics, over an indexed set of devices.

:class:`Resolver` is built once per (policy, devices) pair; every lookup is by index,
never by scanning devices per rule. Public API (used by compile, evaluate, diff, graph):

- ``Resolver(policy, nodes)``
- ``alias_kind(alias) -> AliasKind`` — how a policy string is read (``*``, user, group,
  tag, autogroup, host, ip, ipset); leading/trailing blanks are ignored as the server does.
- ``devices_for(alias) -> tuple[Node, ...]`` — devices the alias names: identities for
  users/groups/tags/autogroup:member/tagged/``*``; devices whose address lies in the
  literal for hosts and IPs/CIDRs. ``autogroup:self`` gives every untagged device.
- ``src_intervals(alias) -> list[Interval]`` and ``src_prefixes(alias) -> list[str]`` —
  the addresses a source alias stands for (wire strings, ``*`` for danger-all).
- ``dst_targets(alias) -> list[str]`` — the ``DstPorts[].IP`` strings of a destination
  alias before per-device reduction (``*``, internet ranges, addresses/prefixes);
  ``dst_pairs(alias)`` gives each with its interval, ``dst_intervals(alias)`` the ranges.
- ``literal_intervals(alias)`` — addresses of an IP, hosts or ``ipset:`` alias;
  ``tokens(intervals)`` renders intervals as the server lists them (one per address).
- ``approved_routes(node)``, ``subnet_routes(node)``, ``is_exit_node(node)`` — routes after
  autoApprovers; subnet routes exclude the exit routes.
- ``node_by_ip(addr) -> Node | None``, ``same_user(node) -> tuple[Node, ...]``.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, cast

from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval
from tailcfg.policy.model.autogroups import MEMBERS_LEGACY, ROLE_AUTOGROUPS
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy, Ref


class AliasKind(StrEnum):
    WILDCARD = "wildcard"
    USER = "user"
    GROUP = "group"
    TAG = "tag"
    AUTOGROUP = "autogroup"
    IP = "ip"
    HOST = "host"
    IPSET = "ipset"
    SERVICE = "service"
    INVALID = "invalid"


def alias_kind(text: str) -> AliasKind:
    """Classify one alias string the way the server parses it."""
    s = text.strip()
    if s == "*":
        return AliasKind.WILDCARD
    if addrs.parse_interval(s) is not None and "-" not in s:
        return AliasKind.IP
    if "@" in s:
        return AliasKind.USER
    if s.startswith("group:"):
        return AliasKind.GROUP
    if s.startswith("tag:"):
        return AliasKind.TAG
    if s.startswith("autogroup:"):
        return AliasKind.AUTOGROUP
    if s.startswith("ipset:"):
        return AliasKind.IPSET
    if s.startswith("svc:"):
        return AliasKind.SERVICE
    if s and ":" not in s:
        return AliasKind.HOST
    return AliasKind.INVALID


def node_intervals(node: Node) -> list[Interval]:
    out: list[Interval] = []
    for a in node.addresses:
        parsed = addrs.parse_addr(a)
        if parsed:
            out.append((parsed[0], parsed[1], parsed[1]))
    return out


_VERSION, _LO, _HI = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)


class AddrSet:
    """A merged set of intervals with fast membership tests."""

    __slots__ = ("_his", "_los", "intervals")

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = addrs.merge(intervals)
        self._los: dict[int, list[int]] = {}
        self._his: dict[int, list[int]] = {}
        for v, group in itertools.groupby(self.intervals, key=_VERSION):
            same = list(group)
            self._los[v] = list(map(_LO, same))
            self._his[v] = list(map(_HI, same))

    def contains_addr(self, version: int, value: int) -> bool:
        los = self._los.get(version)
        if not los:
            return False
        i = bisect.bisect_right(los, value) - 1
        return i >= 0 and value <= self._his[version][i]

    def contains_node(self, node_ivs: Sequence[Interval]) -> bool:
        return any(self.contains_addr(v, lo) for v, lo, _ in node_ivs)

    def overlaps(self, iv: Interval) -> bool:
        """Whether any address of ``iv`` is in the set."""
        v, lo, hi = iv
        los = self._los.get(v)
        if not los:
            return False
        i = bisect.bisect_right(los, hi) - 1
        return i >= 0 and self._his[v][i] >= lo

    def strings(self) -> list[str]:
        return [addrs.render(iv) for iv in self.intervals]

    def __bool__(self) -> bool:
        return bool(self.intervals)


class Resolver:
    """Answers "which devices / addresses does this alias mean" for one policy + devices."""

    def __init__(self, policy: Policy, nodes: Sequence[Node]) -> None:
        self.policy = policy
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.ivs: dict[str, list[Interval]] = {n.name: node_intervals(n) for n in self.nodes}
        self._src_cache: dict[str, list[Interval]] = {}
        # per-resolver memo for derived compilers (e.g. the SSH rules resolved once)
        self.memo: dict[Any, Any] = {}
        self._addr_text: dict[Interval, str] = {}
        for n in self.nodes:
            for iv in self.ivs[n.name]:
                self._addr_text.setdefault(iv, addrs.render(iv))
        self._by_user: dict[str, list[Node]] = {}
        self._by_tag: dict[str, list[Node]] = {}
        self._by_ip: dict[tuple[int, int], Node] = {}
        for n in self.nodes:
            if n.tags:
                for t in n.tags:
                    self._by_tag.setdefault(t, []).append(n)
            elif n.user:
                self._by_user.setdefault(n.user.lower(), []).append(n)
            for v, lo, _ in self.ivs[n.name]:
                self._by_ip.setdefault((v, lo), n)
        pos = {n.name: i for i, n in enumerate(self.nodes)}
        self._pos: dict[str, int] | None = pos if len(pos) == len(self.nodes) else None
        self.members = tuple(n for n in self.nodes if not n.tags)
        self.tagged = tuple(n for n in self.nodes if n.tags)
        self._vips: dict[str, list[Interval]] = {}
        for n in self.nodes:
            for name, vip in n.service_vips:
                parsed = addrs.parse_addr(vip)
                if parsed is None:
                    continue
                known = self._vips.setdefault(name, [])
                if (iv := (parsed[0], parsed[1], parsed[1])) not in known:
                    known.append(iv)
        self._sorted_ips = sorted(self._by_ip)
        self._routes = {n.name: self._compute_routes(n) for n in self.nodes}
        seen: dict[str, None] = {}
        for n in self.nodes:
            for r in self.subnet_routes(n):
                seen.setdefault(addrs.canonical(r))
        self.approved_subnet_routes: tuple[str, ...] = tuple(seen)
        self.route_space = AddrSet(iv for n in self.nodes for iv in self.subnet_route_intervals(n))

    # ---- routes ---------------------------------------------------------------

    def _approver_match(self, node: Node, approvers: Sequence[Ref]) -> bool:
        for ref in approvers:
            a = ref.text.strip()
            if a.startswith("tag:"):
                if a in node.tags:
                    return True
            elif not node.tags and node.user and node in self.devices_for(a):
                return True
        return False

    def _compute_routes(self, node: Node) -> tuple[str, ...]:
        approved = [addrs.canonical(r) for r in node.approved_routes]
        aa = self.policy.auto_approvers
        for route in node.routable_ips:
            c = addrs.canonical(route)
            if c in approved:
                continue
            riv = addrs.parse_interval(c)
            if riv is None:
                continue
            if addrs.is_exit_route(c):
                ok = self._approver_match(node, aa.exit_node)
            else:
                ok = any(
                    (piv := addrs.parse_interval(prefix)) is not None
                    and not addrs.is_exit_route(prefix)
                    and addrs.contains(piv, riv)
                    and self._approver_match(node, approvers)
                    for prefix, approvers in aa.routes.items()
                )
            if ok:
                approved.append(c)
        return tuple(approved)

    def approved_routes(self, node: Node) -> tuple[str, ...]:
        return self._routes.get(node.name, ())

    def subnet_routes(self, node: Node) -> tuple[str, ...]:
        return tuple(r for r in self.approved_routes(node) if not addrs.is_exit_route(r))

    def subnet_route_intervals(self, node: Node) -> list[Interval]:
        out = []
        for r in self.subnet_routes(node):
            iv = addrs.parse_interval(r)
            if iv is not None:
                out.append(iv)
        return out

    def is_exit_node(self, node: Node) -> bool:
        return any(addrs.is_exit_route(r) for r in self.approved_routes(node))

    # ---- identities -----------------------------------------------------------

    def node_by_ip(self, addr: str) -> Node | None:
        parsed = addrs.parse_addr(addr)
        return None if parsed is None else self._by_ip.get(parsed)

    def same_user(self, node: Node) -> tuple[Node, ...]:
        if node.tags or not node.user:
            return ()
        return tuple(self._by_user.get(node.user.lower(), ()))

    def user_devices(self, login: str) -> tuple[Node, ...]:
        """Untagged devices of a login, or of every user of a ``user:*@domain``."""
        s = login.strip().lower()
        if s.startswith("user:*@"):
            domain = s[len("user:*@") :]
            return tuple(
                n for n in self.members if n.user and n.user.lower().rpartition("@")[2] == domain
            )
        return tuple(self._by_user.get(s.rstrip("@"), ()))

    def group_members(self, group: str) -> tuple[str, ...]:
        entry = self.policy.groups.get(group)
        return tuple(r.text.strip() for r in entry.members) if entry else ()

    def nodes_in(self, iv: Interval) -> list[Node]:
        """Devices with an address inside ``iv`` (by binary search over addresses)."""
        lo = bisect.bisect_left(self._sorted_ips, (iv[0], iv[1]))
        hi = bisect.bisect_right(self._sorted_ips, (iv[0], iv[2]))
        seen: dict[str, Node] = {}
        for key in self._sorted_ips[lo:hi]:
            n = self._by_ip[key]
            seen.setdefault(n.name, n)
        return list(seen.values())

    def host_interval(self, name: str) -> Interval | None:
        host = self.policy.hosts.get(name)
        return None if host is None else addrs.parse_interval(host.value.text.strip())

    def literal_interval(self, alias: str) -> Interval | None:
        """The address literal an IP or hosts alias stands for."""
        s = alias.strip()
        kind = alias_kind(s)
        if kind is AliasKind.IP:
            return addrs.parse_interval(s)
        if kind is AliasKind.HOST:
            return self.host_interval(s)
        return None

    def devices_for(self, alias: str) -> tuple[Node, ...]:
        s = alias.strip()
        kind = alias_kind(s)
        if kind is AliasKind.WILDCARD:
            return self.nodes
        if kind is AliasKind.USER:
            return self.user_devices(s)
        if kind is AliasKind.GROUP:
            out: dict[str, Node] = {}
            for m in self.group_members(s):
                for n in self.user_devices(m):
                    out.setdefault(n.name, n)
            return self._in_order(out)
        if kind is AliasKind.TAG:
            return tuple(self._by_tag.get(s, ()))
        if kind is AliasKind.AUTOGROUP:
            if s in ("autogroup:member", MEMBERS_LEGACY, "autogroup:self"):
                return self.members
            if s in ROLE_AUTOGROUPS:
                return self.with_role(s.removeprefix("autogroup:"))
            if s == "autogroup:tagged":
                return self.tagged
            if s == "autogroup:danger-all":
                return self.nodes
            return ()
        found: dict[str, Node] = {}
        for iv in self.literal_intervals(s):
            for n in self.nodes_in(iv):
                found.setdefault(n.name, n)
        return self._in_order(found)

    def _in_order(self, by_name: dict[str, Node]) -> tuple[Node, ...]:
        """The devices named in ``by_name``, in the nodes' order (without a full scan)."""
        if self._pos is None:  # duplicate names: every device with a listed name
            return tuple(n for n in self.nodes if n.name in by_name)
        pos = self._pos
        return tuple(sorted(by_name.values(), key=lambda n: pos[n.name]))

    def with_role(self, role: str) -> tuple[Node, ...]:
        """Untagged devices whose user holds ``role`` (an Owner is an Admin too)."""
        wanted = {role, "owner"} if role == "admin" else {role}
        return tuple(n for n in self.members if wanted.intersection(n.roles))

    def service_intervals(self, name: str) -> list[Interval]:
        """The virtual addresses of service ``name`` (empty when no device hosts it)."""
        return list(self._vips.get(name, ()))

    def literal_intervals(self, alias: str) -> list[Interval]:
        """Addresses of an IP, hosts, ipset or service alias (an ipset's adds minus removes)."""
        s = alias.strip()
        if alias_kind(s) is AliasKind.IPSET:
            return self.ipset_intervals(s)
        if alias_kind(s) is AliasKind.SERVICE:
            return self.service_intervals(s)
        iv = self.literal_interval(s)
        return [iv] if iv else []

    def ipset_intervals(self, name: str, seen: frozenset[str] = frozenset()) -> list[Interval]:
        entry = self.policy.ipsets.get(name)
        if entry is None or name in seen:
            return []
        ivs: list[Interval] = []
        for ref in entry.members:
            op, _, target = ref.text.strip().partition(" ")
            if op not in ("add", "remove") or not target:
                op, target = "add", ref.text.strip()
            target = target.strip()
            if target == "autogroup:internet":
                part = self.dst_intervals(target)
            elif alias_kind(target) is AliasKind.IPSET:
                part = self.ipset_intervals(target, seen | {name})
            else:
                part = self.literal_intervals(target)
            ivs = addrs.merge([*ivs, *part]) if op == "add" else addrs.subtract(ivs, part)
        return ivs

    # ---- addresses ------------------------------------------------------------

    def src_intervals(self, alias: str) -> list[Interval]:
        """Addresses a source alias stands for (``*`` as CGNAT + ULA, not routes)."""
        hit = self._src_cache.get(alias)
        if hit is None:
            hit = self._src_cache[alias] = self._src_intervals(alias)
        return list(hit)

    def render(self, iv: Interval) -> str:
        """Wire form of one interval (device addresses as the nodes file spells them)."""
        text = self._addr_text.get(iv)
        return text if text is not None else addrs.render(iv)

    def tokens(self, intervals: Iterable[Interval]) -> list[str]:
        """Like :func:`addrs.tokens`, with device addresses rendered from the index."""
        return self._render_all(sorted(set(intervals)))

    def _render_all(self, ordered: list[Interval]) -> list[str]:
        """``render`` of each interval (device addresses looked up all at once)."""
        found: list[str | None] = list(map(self._addr_text.get, ordered))
        if None not in found:
            return cast(list[str], found)
        return [
            t if t is not None else addrs.render(iv) for t, iv in zip(found, ordered, strict=True)
        ]

    def _src_intervals(self, alias: str) -> list[Interval]:
        s = alias.strip()
        kind = alias_kind(s)
        if kind is AliasKind.WILDCARD:
            return [iv for t in addrs.WILDCARD_SRC if (iv := addrs.parse_interval(t))]
        if s == "autogroup:danger-all":
            return [(4, 0, (1 << 32) - 1), (6, 0, (1 << 128) - 1)]
        if s in ("autogroup:internet", "autogroup:self"):
            return []
        if kind in (AliasKind.IP, AliasKind.HOST, AliasKind.IPSET, AliasKind.SERVICE):
            return self.literal_intervals(s)
        out: list[Interval] = []
        for n in self.devices_for(s):
            out.extend(self.ivs[n.name])
        return out

    def src_prefixes(self, alias: str) -> list[str]:
        if alias.strip() == "autogroup:danger-all":
            return ["*"]
        return self.tokens(self.src_intervals(alias))

    def dst_intervals(self, alias: str) -> list[Interval]:
        s = alias.strip()
        if s == "autogroup:internet":
            return [iv for t in addrs.INTERNET_DST if (iv := addrs.parse_interval(t))]
        if s == "*":
            return [(4, 0, (1 << 32) - 1), (6, 0, (1 << 128) - 1)]
        return self.src_intervals(s)

    def dst_targets(self, alias: str) -> list[str]:
        s = alias.strip()
        if s == "*":
            return ["*"]
        if s == "autogroup:internet":
            return list(addrs.INTERNET_DST)
        return [text for text, _ in self.dst_pairs(s)]

    def dst_pairs(self, alias: str) -> list[tuple[str, Interval | None]]:
        """``dst_targets`` with each string's interval (None for ``*``)."""
        s = alias.strip()
        if s == "*":
            return [("*", None)]
        if s == "autogroup:internet":
            return [(t, addrs.parse_interval(t)) for t in addrs.INTERNET_DST]
        ordered = sorted(set(self.src_intervals(s)))
        return list(zip(self._render_all(ordered), ordered, strict=True))
