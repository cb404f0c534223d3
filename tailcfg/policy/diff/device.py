"""One enforcing device's access difference between the two sides' packet filters.

The engine shares ``SrcIPs`` lists and ``DstPorts`` entries between the devices of one
compile, so a :class:`FilterParser` numbers every distinct source list (``sid``) and
destination entry (``did``, by its parsed content) once, and a filter rule becomes
``(sid, protocols, dids)``. At a device, both sides' entries ``(sid, protocols, did)``
are compared as sets; only the cells (destination, protocol, port range) that a
differing entry touches are evaluated, from every entry of each side overlapping them:
sources as device bitmasks plus atoms of addresses that are no device's, ports as
sorted segments. Entries both sides share cost a set lookup, not a parse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.diff.facts import Delta, DstKey, SrcKey, segments, subtract, within
from tailcfg.policy.diff.universe import Side, Universe
from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS, IntervalSet, parse_range
from tailcfg.policy.evaluate.world import node_addrs
from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval
from tailcfg.policy.model.nodes import Node

_TAILNET = (addrs.CGNAT, addrs.TAILSCALE_ULA)

DstSpec = tuple[tuple[Interval, ...], int, int]  # addresses, first port, last port
Rule = tuple[int, frozenset[int], tuple[int, ...]]  # sid, protocols, dids
Cell = tuple[DstKey, int]  # (destination, protocol)
Dirty = dict[Cell, list[tuple[int, int]]]
Contribution = tuple[int, int, int]  # first port, last port, source mask
Fed = list[tuple[int, list[Cell]]]  # per address family: the cells an entry feeds
Change = tuple[int, int, int, int]  # first port, last port, sources gained, sources lost


class FilterParser:
    """Parses compiled filters once per shared object; source device masks per family."""

    def __init__(self, u: Universe) -> None:
        self.u = u
        self.dev_keys: list[SrcKey] = [("dev", n.name) for n in u.sources]
        self._src_ids: dict[int, tuple[object, int]] = {}  # id -> (object kept alive, sid)
        self._sids: dict[tuple[str, ...], int] = {}
        self.src_every: list[list[Interval]] = []
        self.src_net: list[list[Interval]] = []  # per sid: what is not one device's address
        self._dst_ids: dict[int, tuple[object, int]] = {}
        self._dids: dict[DstSpec, int] = {}
        self.dsts: list[DstSpec] = []
        self._masks: dict[tuple[int, int], int] = {}
        self._protos: dict[tuple[int, ...], frozenset[int]] = {}

    def sid(self, specs: Sequence[str]) -> int:
        hit = self._src_ids.get(id(specs))
        if hit is not None:
            return hit[1]
        key = tuple(specs)
        sid = self._sids.get(key)
        if sid is None:
            sid = self._sids[key] = len(self.src_every)
            every = [iv for spec in key for iv in parse_range(spec)]
            known = self.u.device_addrs
            net = [iv for iv in every if not (iv[1] == iv[2] and (iv[0], iv[1]) in known)]
            self.src_every.append(every)
            self.src_net.append(net)
        self._src_ids[id(specs)] = (specs, sid)
        return sid

    def did(self, dp: Mapping[str, Any]) -> int:
        hit = self._dst_ids.get(id(dp))
        if hit is not None:
            return hit[1]
        p = dp.get("Ports") or {}
        ivs = parse_range(str(dp.get("IP", "")))
        key = (ivs, int(p.get("First", 0)), int(p.get("Last", 65535)))
        did = self._dids.get(key)
        if did is None:
            did = self._dids[key] = len(self.dsts)
            self.dsts.append(key)
        self._dst_ids[id(dp)] = (dp, did)
        return did

    def device_mask(self, sid: int, family: int) -> int:
        key = (sid, family)
        hit = self._masks.get(key)
        if hit is None:
            ivs = IntervalSet(iv for iv in self.src_every[sid] if iv[0] == family)
            hit = self._masks[key] = self.u.index.mask(ivs, family)
        return hit

    def protos(self, ip_proto: tuple[int, ...]) -> frozenset[int]:
        hit = self._protos.get(ip_proto)
        if hit is None:
            hit = self._protos[ip_proto] = frozenset(int(p) for p in ip_proto) or DEFAULT_PROTOS
        return hit

    def rules(self, packet_filter: Sequence[Mapping[str, Any]]) -> list[Rule]:
        out: list[Rule] = []
        known = self._dst_ids.get
        did = self.did
        for rule in packet_filter:
            ports = rule.get("DstPorts")
            if not ports:
                continue
            protos = self.protos(tuple(rule.get("IPProto") or ()))
            dids = tuple([hit[1] if (hit := known(id(dp))) else did(dp) for dp in ports])
            out.append((self.sid(rule.get("SrcIPs") or ()), protos, dids))
        return out


def served_by(node: Node, own: Sequence[tuple[int, int]], r: Resolver) -> list[Interval]:
    """Addresses routed by ``node``: subnet routes; exit routes minus the tailnet."""
    out: list[Interval] = []
    for route in r.approved_routes(node):
        iv = addrs.parse_interval(route)
        if iv is not None:
            out.extend(subtract([iv], _TAILNET) if addrs.is_exit_route(route) else [iv])
    return subtract(addrs.merge(out), [(f, a, a) for f, a in own])


class DeviceDelta:
    """The access difference at one enforcing device."""

    def __init__(self, parser: FilterParser, node: Node, old: Side, new: Side) -> None:
        self.parser = parser
        self.node = node
        self.own = node_addrs(node)
        parts = old.filter_parts(node), new.filter_parts(node)
        # (rules both sides share, old's own, new's own) when the sides share a part
        self.split: tuple[list[Rule], list[Rule], list[Rule]] | None = None
        if len(parts[0]) == len(parts[1]) == 2 and parts[0][0] is parts[1][0]:
            common = parser.rules(parts[0][0])
            own = parser.rules(parts[0][1]), parser.rules(parts[1][1])
            self.split = (common, *own)
            self.rules = (common + own[0], common + own[1])
        else:
            self.rules = (
                parser.rules(old.packet_filter(node)),
                parser.rules(new.packet_filter(node)),
            )
        self.served = (
            served_by(node, self.own, old.resolver),
            served_by(node, self.own, new.resolver),
        )
        space = addrs.merge([*self.served[0], *self.served[1]])
        self.space = space
        self.dst_atoms: list[Interval] = []
        if space:
            dids = {d for rules in self.rules for _, _, ds in rules for d in ds}
            cuts = [iv for d in dids for iv in parser.dsts[d][0]]
            self.dst_atoms = segments(cuts, space)
        self.dst_keys = [(v, lo) for v, lo, _ in self.dst_atoms]
        sids = {sid for rules in self.rules for sid, _, _ in rules}
        net_cuts = [iv for sid in sids for iv in parser.src_net[sid]]
        self.src_atoms = segments(net_cuts, addrs.merge(net_cuts)) if net_cuts else []
        self.src_keys = [(v, lo) for v, lo, _ in self.src_atoms]
        self.shift = len(parser.dev_keys)
        self._key_cache: dict[tuple[Interval, int], list[DstKey]] = {}
        self._mask_cache: dict[tuple[int, int], int] = {}
        self._bits_cache: dict[int, list[SrcKey]] = {}

    def _src_mask(self, sid: int, family: int) -> int:
        hit = self._mask_cache.get((sid, family))
        if hit is None:
            hit = self.parser.device_mask(sid, family)
            for iv in self.parser.src_net[sid]:
                if iv[0] == family:
                    for i in within(self.src_keys, iv):
                        hit |= 1 << (self.shift + i)
            self._mask_cache[(sid, family)] = hit
        return hit

    def _keys(self, iv: Interval, side: int) -> list[DstKey]:
        hit = self._key_cache.get((iv, side))
        if hit is None:
            hit = self._key_cache[(iv, side)] = self._find_keys(iv, side)
        return hit

    def keys(self, iv: Interval, side: int) -> list[DstKey]:
        return self._keys(iv, side)

    def _find_keys(self, iv: Interval, side: int) -> list[DstKey]:
        keys: list[DstKey] = []
        if any(iv[0] == f and iv[1] <= a <= iv[2] for f, a in self.own):
            keys.append(("dev", self.node.name))
        for i in within(self.dst_keys, iv):
            atom = self.dst_atoms[i]
            if any(addrs.contains(s, atom) for s in self.served[side]):
                keys.append(("net", self.node.name, *atom))
        return keys

    def _dirty(self) -> Dirty | None:
        """Port ranges per (destination, protocol) cell that a differing entry touches."""
        if self.served[0] != self.served[1]:
            return None
        before, after = ({(s, p, d) for s, p, ds in rules for d in ds} for rules in self.rules)
        out: Dirty = {}
        dsts = self.parser.dsts
        for _, protos, did in before ^ after:
            ivs, first, last = dsts[did]
            for iv in ivs:
                for key in self._keys(iv, 0):
                    for proto in protos:
                        out.setdefault((key, proto), []).append((first, last))
        return out

    def _contributions(self, rules: list[Rule], feeds: _Feeds) -> dict[Cell, list[Contribution]]:
        out: dict[Cell, list[Contribution]] = {}
        dsts = self.parser.dsts
        memo = feeds.memo
        for sid, protos, dids in rules:
            for did in dids:
                fed = memo.get((did, protos))
                if fed is None:
                    fed = feeds.find(did, protos)
                if not fed:
                    continue
                _, first, last = dsts[did]
                for family, found in fed:
                    mask = self._src_mask(sid, family)
                    if mask:
                        for cell in found:
                            out.setdefault(cell, []).append((first, last, mask))
        return out

    def delta(self, into: Delta) -> None:
        into.served[self.node.name] = self.space
        dirty = self._dirty()
        if dirty is not None and not dirty:
            return
        if dirty is None:
            feeds = (_Feeds(self, 0, None), _Feeds(self, 1, None))
        else:  # the same routes on both sides: an entry feeds the same cells
            shared = _Feeds(self, 0, dirty)
            feeds = (shared, shared)
        if self.split is not None and feeds[0] is feeds[1]:  # shared rules counted once
            common = self._contributions(self.split[0], feeds[0])
            before = _plus(common, self._contributions(self.split[1], feeds[0]))
            after = _plus(common, self._contributions(self.split[2], feeds[1]))
        else:
            before = self._contributions(self.rules[0], feeds[0])
            after = self._contributions(self.rules[1], feeds[1])
        last: tuple[Any, ...] = ()
        changes: list[Change] = []
        for key in sorted(set(before) | set(after)):
            only = None if dirty is None else sorted(dirty.get(key, []))
            sides = (before.get(key, []), after.get(key, []))
            # protocols of one destination often see the very same entries: reuse
            if last != (key[0], sides, only):
                changes = segment_changes(sides, only)
                last = (key[0], sides, only)
            self._record(changes, key, into)

    def _record(self, changes: list[Change], key: Cell, into: Delta) -> None:
        dst, proto = key
        for lo, hi, gained, lost in changes:
            for facts, bits in ((into.gained, gained), (into.lost, lost)):
                if not bits:
                    continue
                for src in self._src_keys(bits):
                    ranges = facts.setdefault((src, dst), {}).setdefault(proto, [])
                    if ranges and ranges[-1][1] + 1 == lo:
                        ranges[-1] = (ranges[-1][0], hi)
                    else:
                        ranges.append((lo, hi))

    def _src_keys(self, bits: int) -> list[SrcKey]:
        hit = self._bits_cache.get(bits)
        if hit is None:
            hit = []
            rest = bits
            while rest:
                low = rest & -rest
                rest ^= low
                hit.append(self._src_key(low.bit_length() - 1))
            self._bits_cache[bits] = hit
        return hit

    def _src_key(self, bit: int) -> SrcKey:
        if bit < self.shift:
            return self.parser.dev_keys[bit]
        return ("net", *self.src_atoms[bit - self.shift])


def _plus(
    common: dict[Cell, list[Contribution]], own: dict[Cell, list[Contribution]]
) -> dict[Cell, list[Contribution]]:
    if not own:
        return common
    out = dict(common)
    for cell, contributions in own.items():
        out[cell] = out.get(cell, []) + contributions
    return out


def segment_changes(
    sides: tuple[list[Contribution], list[Contribution]], only: list[tuple[int, int]] | None
) -> list[Change]:
    """``(lo, hi, gained, lost)`` per port segment of one cell where the sources differ
    (within ``only``, when given)."""
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
    inside = None
    if only is not None:  # every segment lies wholly inside or outside each range
        inside = bytearray(len(points))
        for a, b in only:
            for i in range(at[a], at[b + 1]):
                inside[i] = 1
    out: list[Change] = []
    before, after = masks
    for i in range(len(points) - 1):
        old, new = before[i], after[i]
        if old != new and (inside is None or inside[i]):
            out.append((points[i], points[i + 1] - 1, new & ~old, old & ~new))
    return out


class _Feeds:
    """``(did, protocols) -> [(family, cells)]``: the cells one entry feeds (memoised)."""

    def __init__(self, device: DeviceDelta, side: int, dirty: Dirty | None) -> None:
        self.device = device
        self.side = side
        self.dirty = dirty
        self.spans: dict[DstKey, tuple[int, int]] = {}
        for (key, _), ranges in (dirty or {}).items():
            lo, hi = self.spans.get(key, (65536, -1))
            self.spans[key] = (min(lo, *(a for a, _ in ranges)), max(hi, *(b for _, b in ranges)))
        self.memo: dict[tuple[int, frozenset[int]], Fed] = {}

    def find(self, did: int, protos: frozenset[int]) -> Fed:
        ivs, first, last = self.device.parser.dsts[did]
        dirty = self.dirty
        out: Fed = []
        for iv in ivs:
            found: list[Cell] = []
            for k in self.device.keys(iv, self.side):
                if dirty is None:
                    found.extend((k, p) for p in protos)
                    continue
                span = self.spans.get(k)
                if span is None or span[0] > last or first > span[1]:
                    continue
                for p in protos:
                    if any(a <= last and first <= b for a, b in dirty.get((k, p), ())):
                        found.append((k, p))
            if found:
                out.append((iv[0], found))
        self.memo[(did, protos)] = out
        return out
