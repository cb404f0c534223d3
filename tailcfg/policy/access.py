"""Who reaches what under two policies: the reachability model behind ``policy diff``.

Both policies are compiled by the engine on one set of devices, a
:class:`~tailcfg.policy.diff_universe.Universe` (the ``--nodes`` topology plus stand-ins).

:func:`access_delta` then compares, device by device, what each compiled packet filter
and SSH policy admits, and returns the difference as *facts*:

- :attr:`Delta.gained` / :attr:`Delta.lost`: ``(src, dst) -> {proto: ((first, last), ...)}``
  where ``src`` is ``("dev", name)`` (a device, reaching over IPv4 or IPv6) or
  ``("net", family, lo, hi)`` (addresses that are no device's, cut at every boundary a
  rule draws), and ``dst`` is ``("dev", name)`` (the device's own addresses) or
  ``("net", router, family, lo, hi)`` (addresses the router serves through a subnet or
  exit route). Port ranges are merged.
- :attr:`Delta.ssh`: ``(src device, dst device, login) -> (old action, new action)``
  with actions ``accept``/``check``/None; :data:`OTHER_LOGIN` stands for every login
  that no ``sshUsers`` names (``autogroup:nonroot``).

Devices whose filter and SSH policy are equal on both sides are skipped, so the cost
follows the size of the change, not devices x rules.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailcfg.policy import addrs
from tailcfg.policy.addrs import Interval
from tailcfg.policy.diff_universe import Side, Universe
from tailcfg.policy.eval_world import node_addrs
from tailcfg.policy.filter_match import (
    DEFAULT_PROTOS,
    IntervalSet,
    SshMatcher,
    parse_range,
)
from tailcfg.policy.nodes import Node
from tailcfg.policy.resolve import Resolver

OTHER_LOGIN = "\x00other"  # any login no sshUsers map names
_TAILNET = (addrs.CGNAT, addrs.TAILSCALE_ULA)

SrcKey = tuple[Any, ...]
DstKey = tuple[Any, ...]
PortMap = dict[int, list[tuple[int, int]]]
Facts = dict[tuple[SrcKey, DstKey], PortMap]
CapFacts = dict[tuple[SrcKey, DstKey], set[str]]


@dataclass(slots=True)
class Delta:
    """Access gained and lost (facts, see the module docstring), SSH verdict changes, and
    application capabilities gained and lost (:mod:`tailcfg.policy.diff_caps`)."""

    gained: Facts = field(default_factory=dict)
    lost: Facts = field(default_factory=dict)
    ssh: dict[tuple[str, str, str], tuple[str | None, str | None]] = field(default_factory=dict)
    served: dict[str, list[Interval]] = field(default_factory=dict)  # router -> routed space
    caps_gained: CapFacts = field(default_factory=dict)
    caps_lost: CapFacts = field(default_factory=dict)


# ---- intervals --------------------------------------------------------------------


def _segments(cuts: Iterable[Interval], space: Sequence[Interval]) -> list[Interval]:
    """Split ``space`` (merged, one family) at every boundary of ``cuts``."""
    out: list[Interval] = []
    cut_list = list(cuts)
    for v, lo, hi in space:
        points = {lo, hi + 1}
        for _, a, b in cut_list:
            if a > lo and a <= hi:
                points.add(a)
            if b + 1 > lo and b + 1 <= hi:
                points.add(b + 1)
        ordered = sorted(points)
        out.extend((v, a, b - 1) for a, b in itertools.pairwise(ordered))
    return out


def subtract(space: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for v, lo, hi in space:
        pieces = [(lo, hi)]
        for hv, hlo, hhi in holes:
            if hv != v:
                continue
            nxt = []
            for a, b in pieces:
                if hhi < a or hlo > b:
                    nxt.append((a, b))
                    continue
                if a < hlo:
                    nxt.append((a, hlo - 1))
                if hhi < b:
                    nxt.append((hhi + 1, b))
            pieces = nxt
        out.extend((v, a, b) for a, b in pieces)
    return out


def _within(atoms: Sequence[Interval], keys: Sequence[tuple[int, int]], iv: Interval) -> range:
    """Indices of the (sorted, elementary) atoms inside ``iv``."""
    i = bisect.bisect_left(keys, (iv[0], iv[1]))
    j = bisect.bisect_right(keys, (iv[0], iv[2]))
    return range(i, j)


# ---- per device -------------------------------------------------------------------

Entry = tuple[tuple[str, ...], frozenset[int], Interval, int, int]
Dirty = dict[tuple[DstKey, int], list[tuple[int, int]]]


@dataclass(slots=True)
class _Rule:
    srcs: tuple[str, ...]  # SrcIPs as written
    src_net: list[Interval]  # source intervals that are not one device's address
    protos: frozenset[int]
    dsts: list[tuple[Interval, int, int]]


class _Parser:
    """Parses filter rules once per distinct SrcIPs list; device masks per family."""

    def __init__(self, u: Universe) -> None:
        self.u = u
        self._src: dict[tuple[str, ...], tuple[list[Interval], list[Interval]]] = {}
        self._masks: dict[tuple[tuple[str, ...], int], int] = {}
        self._protos: dict[tuple[int, ...], frozenset[int]] = {}

    def sources(self, srcs: tuple[str, ...]) -> tuple[list[Interval], list[Interval]]:
        hit = self._src.get(srcs)
        if hit is None:
            every: list[Interval] = []
            net: list[Interval] = []
            for spec in srcs:
                for iv in parse_range(spec):
                    every.append(iv)
                    if not (iv[1] == iv[2] and (iv[0], iv[1]) in self.u.device_addrs):
                        net.append(iv)
            hit = self._src[srcs] = (every, net)
        return hit

    def device_mask(self, srcs: tuple[str, ...], family: int) -> int:
        key = (srcs, family)
        hit = self._masks.get(key)
        if hit is None:
            every = self.sources(srcs)[0]
            ivs = IntervalSet(iv for iv in every if iv[0] == family)
            hit = self._masks[key] = self.u.index.mask(ivs, family)
        return hit

    def protos(self, ip_proto: tuple[int, ...]) -> frozenset[int]:
        hit = self._protos.get(ip_proto)
        if hit is None:
            hit = self._protos[ip_proto] = frozenset(int(p) for p in ip_proto) or DEFAULT_PROTOS
        return hit

    def rules(self, packet_filter: Sequence[Mapping[str, Any]]) -> list[_Rule]:
        out = []
        for rule in packet_filter:
            ports = rule.get("DstPorts") or ()
            if not ports:
                continue
            srcs = tuple(rule.get("SrcIPs") or ())
            protos = self.protos(tuple(rule.get("IPProto") or ()))
            dsts: list[tuple[Interval, int, int]] = []
            for dp in ports:
                p = dp.get("Ports") or {}
                first, last = int(p.get("First", 0)), int(p.get("Last", 65535))
                dsts.extend((iv, first, last) for iv in parse_range(str(dp.get("IP", ""))))
            out.append(_Rule(srcs, self.sources(srcs)[1], protos, dsts))
        return out


def _entries(rules: Sequence[_Rule]) -> set[Entry]:
    return {(r.srcs, r.protos, iv, a, b) for r in rules for iv, a, b in r.dsts}


class _DeviceDelta:
    """The access difference at one enforcing device."""

    def __init__(self, parser: _Parser, node: Node, old: Side, new: Side) -> None:
        self.u = u = parser.u
        self.parser = parser
        self.node = node
        self.own = node_addrs(node)
        self.rules = (
            parser.rules(old.packet_filter(node)),
            parser.rules(new.packet_filter(node)),
        )
        self.served = (self._served(old.resolver), self._served(new.resolver))
        cuts = [iv for rules in self.rules for r in rules for iv, _, _ in r.dsts]
        space = addrs.merge([*self.served[0], *self.served[1]])
        self.dst_atoms = _segments(cuts, space)
        self.dst_keys = [(v, lo) for v, lo, _ in self.dst_atoms]
        net_cuts = [iv for rules in self.rules for r in rules for iv in r.src_net]
        self.src_atoms = _segments(net_cuts, addrs.merge(net_cuts))
        self.src_keys = [(v, lo) for v, lo, _ in self.src_atoms]
        self.shift = len(u.sources)
        self._key_cache: dict[tuple[Interval, int], list[DstKey]] = {}

    def _served(self, r: Resolver) -> list[Interval]:
        """Addresses routed by this device: subnet routes; exit routes minus the tailnet."""
        out: list[Interval] = []
        for route in r.approved_routes(self.node):
            iv = addrs.parse_interval(route)
            if iv is not None:
                out.extend(subtract([iv], _TAILNET) if addrs.is_exit_route(route) else [iv])
        return subtract(addrs.merge(out), [(f, a, a) for f, a in self.own])

    def _src_mask(self, rule: _Rule, family: int) -> int:
        mask = self.parser.device_mask(rule.srcs, family)
        for iv in rule.src_net:
            if iv[0] == family:
                for i in _within(self.src_atoms, self.src_keys, iv):
                    mask |= 1 << (self.shift + i)
        return mask

    def _keys(self, iv: Interval, side: int) -> list[DstKey]:
        hit = self._key_cache.get((iv, side))
        if hit is None:
            hit = self._key_cache[(iv, side)] = self._find_keys(iv, side)
        return hit

    def _find_keys(self, iv: Interval, side: int) -> list[DstKey]:
        keys: list[DstKey] = []
        if any(iv[0] == f and iv[1] <= a <= iv[2] for f, a in self.own):
            keys.append(("dev", self.node.name))
        for i in _within(self.dst_atoms, self.dst_keys, iv):
            atom = self.dst_atoms[i]
            if any(addrs.contains(s, atom) for s in self.served[side]):
                keys.append(("net", self.node.name, *atom))
        return keys

    def _dirty(self) -> Dirty | None:
        """Port ranges per (destination, protocol) cell that a differing entry touches."""
        if self.served[0] != self.served[1]:
            return None
        before, after = _entries(self.rules[0]), _entries(self.rules[1])
        out: Dirty = {}
        for _, protos, iv, first, last in before ^ after:
            for key in self._keys(iv, 0):
                for proto in protos:
                    out.setdefault((key, proto), []).append((first, last))
        return out

    def _contributions(
        self, side: int, dirty: Dirty | None
    ) -> dict[tuple[DstKey, int], list[tuple[int, int, int]]]:
        out: dict[tuple[DstKey, int], list[tuple[int, int, int]]] = {}
        spans: dict[DstKey, tuple[int, int]] = {}
        for (key, _), ranges in (dirty or {}).items():
            lo, hi = spans.get(key, (65536, -1))
            spans[key] = (min(lo, *(a for a, _ in ranges)), max(hi, *(b for _, b in ranges)))
        for rule in self.rules[side]:
            masks: dict[int, int] = {}
            for iv, first, last in rule.dsts:
                keys = self._keys(iv, side)
                if dirty is None:
                    cells = [(k, p) for k in keys for p in rule.protos]
                else:
                    cells = [
                        (k, p)
                        for k in keys
                        if k in spans and spans[k][0] <= last and first <= spans[k][1]
                        for p in rule.protos
                        if any(a <= last and first <= b for a, b in dirty.get((k, p), ()))
                    ]
                if not cells:
                    continue
                family = iv[0]
                if family not in masks:
                    masks[family] = self._src_mask(rule, family)
                if masks[family]:
                    for cell in cells:
                        out.setdefault(cell, []).append((first, last, masks[family]))
        return out

    def delta(self, into: Delta) -> None:
        into.served[self.node.name] = addrs.merge([*self.served[0], *self.served[1]])
        dirty = self._dirty()
        before, after = self._contributions(0, dirty), self._contributions(1, dirty)
        for key in sorted(set(before) | set(after)):
            only = None if dirty is None else dirty.get(key, [])
            _port_delta(key, (before.get(key, []), after.get(key, [])), only, self._src_key, into)

    def _src_key(self, bit: int) -> SrcKey:
        if bit < self.shift:
            return ("dev", self.u.sources[bit].name)
        return ("net", *self.src_atoms[bit - self.shift])


def _port_delta(
    key: tuple[DstKey, int],
    sides: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]],
    only: list[tuple[int, int]] | None,
    src_key: Any,
    into: Delta,
) -> None:
    """Sources gained and lost per port segment of one (destination, protocol) cell."""
    dst, proto = key
    bounds = {p for a, b, _ in (*sides[0], *sides[1]) for p in (a, b + 1)}
    bounds.update(p for a, b in only or () for p in (a, b + 1))
    points = sorted(bounds)
    at = {p: i for i, p in enumerate(points)}
    masks = ([0] * len(points), [0] * len(points))
    for side, contributions in enumerate(sides):
        seg = masks[side]
        for a, b, m in contributions:
            for i in range(at[a], at[b + 1]):
                seg[i] |= m
    for i, (lo, nxt) in enumerate(itertools.pairwise(points)):
        hi = nxt - 1
        if only is not None and not any(a <= lo and hi <= b for a, b in only):
            continue
        old, new = masks[0][i], masks[1][i]
        for facts, bits in ((into.gained, new & ~old), (into.lost, old & ~new)):
            while bits:
                low = bits & -bits
                bits ^= low
                src = src_key(low.bit_length() - 1)
                ranges = facts.setdefault((src, dst), {}).setdefault(proto, [])
                if ranges and ranges[-1][1] + 1 == lo:
                    ranges[-1] = (ranges[-1][0], hi)
                else:
                    ranges.append((lo, hi))


# ---- SSH --------------------------------------------------------------------------


def _action(m: SshMatcher, node: Node, login: str) -> str | None:
    best: str | None = None
    for a in node_addrs(node):
        v = m.verdict(a, login)
        if v.checked:
            return "check"
        if v.allowed:
            best = "accept"
    return best


def _ssh_delta(
    u: Universe, node: Node, old: dict[str, Any], new: dict[str, Any], into: Delta
) -> None:
    rules = [*(old.get("rules") or ()), *(new.get("rules") or ())]
    logins = {"root", OTHER_LOGIN}
    src_bits: set[int] = set()
    for rule in rules:
        logins.update(k for k in (rule.get("sshUsers") or {}) if k != "*")
        for p in rule.get("principals") or ():
            if p.get("any"):
                src_bits.update(range(len(u.sources)))
            elif (ip := p.get("nodeIP")) and (iv := addrs.parse_interval(str(ip))):
                i = u.by_addr.get((iv[0], iv[1]))
                if i is not None:
                    src_bits.add(i)
    before = SshMatcher(old.get("rules") or [])
    after = SshMatcher(new.get("rules") or [])
    for i in sorted(src_bits):
        src = u.sources[i]
        for login in sorted(logins):
            a, b = _action(before, src, login), _action(after, src, login)
            if a != b:
                into.ssh[(src.name, node.name, login)] = (a, b)


def access_delta(u: Universe, old: Side, new: Side, *, only: frozenset[str] | None = None) -> Delta:
    """Compare what devices admit under ``old`` and ``new`` (see the module docstring).

    ``only`` limits the comparison to these devices (the others are known to be equal).
    """
    out = Delta()
    parser = _Parser(u)
    for node in u.nodes:
        if only is not None and node.name not in only:
            continue
        same_routes = old.resolver.approved_routes(node) == new.resolver.approved_routes(node)
        if old.packet_filter(node) != new.packet_filter(node) or not same_routes:
            _DeviceDelta(parser, node, old, new).delta(out)
        a, b = old.ssh_policy(node), new.ssh_policy(node)
        if a != b:
            _ssh_delta(u, node, a, b, out)
    return out
