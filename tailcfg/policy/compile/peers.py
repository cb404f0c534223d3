"""Which devices see each other: a and b are peers when either may send to the other.

A rule's source list S reaches R(S): the devices with an address inside S and the subnet
routers whose approved routes overlap S (traffic from a subnet arrives through its
router). A device holding a rule from S is a peer of everything in R(S), and vice versa.
A ``via`` grant (even an app-only one) pairs its sources with its via routers.

Sets of devices are bitmasks (Python ints, bit i = the i-th device in name order), so
a device's peers are a few ORs of shared masks rather than pairwise inserts: devices
with the same sources held and the same sources containing them (one identity) share
one mask, one frozenset (:func:`peer_sets`) and one sorted list (:func:`peer_map`).
Distinct ``SrcIPs`` lists are told apart once each (by object, then by content), so the
cost grows with the number of devices plus the number of distinct rules, never with
their product. Sets may contain the device itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval

T = TypeVar("T")
Sources = tuple[str, ...]
ViaPair = tuple[Sources, Sequence[str]]


def mask_of(indices: Iterable[int], width: int) -> int:
    """The bitmask with the given bit indices set (linear in indices + width)."""
    buf = bytearray((width + 7) >> 3)
    for i in indices:
        buf[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buf, "little")


_SELECT = bytes.maketrans(b"01", b"\x00\x01")


def _selectors(mask: int) -> bytes:
    """One byte per bit of ``mask``, least significant first: 1 where set, else 0."""
    return bin(mask)[:1:-1].encode().translate(_SELECT)


def bits_of(mask: int) -> list[int]:
    """The set bit indices of ``mask``, ascending."""
    sel = _selectors(mask)
    return list(itertools.compress(range(len(sel)), sel))


def pick(items: Sequence[T], mask: int) -> list[T]:
    """``[items[i] for i in bits_of(mask)]``, at C speed."""
    return list(itertools.compress(items, _selectors(mask)))


class _Reach:
    """R(S) as device indices, cached per address token."""

    def __init__(self, r: Resolver, rank: Mapping[str, int]) -> None:
        self.r = r
        self.rank = rank
        self.width = len(rank)
        self.routers = [
            (rank[n.name], ivs) for n in r.nodes if (ivs := r.subnet_route_intervals(n))
        ]
        self._tokens: dict[str, tuple[int, ...]] = {}

    def token(self, text: str) -> tuple[int, ...]:
        hit = self._tokens.get(text)
        if hit is None:
            iv = addrs.parse_interval(text)
            found: list[int] = []
            if iv is not None:
                found = [self.rank[n.name] for n in self.r.nodes_in(iv)]
                if self.r.route_space.overlaps(iv):
                    found += [i for i, ivs in self.routers if _overlaps_any(iv, ivs)]
            hit = self._tokens[text] = tuple(found)
        return hit

    def indices(self, src: Sequence[str]) -> Iterable[int]:
        if "*" in src:
            return range(self.width)
        table = self._tokens
        for text in [t for t in src if t not in table]:
            self.token(text)
        return set().union(*map(table.__getitem__, src))


def _overlaps_any(iv: Interval, ivs: Iterable[Interval]) -> bool:
    return any(addrs.overlaps(iv, x) for x in ivs)


class _Sources:
    """Numbers distinct SrcIPs lists: by object identity first, then by content."""

    def __init__(self) -> None:
        self.by_id: dict[int, int] = {}
        self.by_value: dict[Sources, int] = {}
        self.values: list[Sources] = []
        self._alive: list[object] = []  # keeps id() keys valid while numbering

    def sid(self, src: Sequence[str]) -> int:
        hit = self.by_id.get(id(src))
        if hit is None:
            key = tuple(src)
            hit = self.by_value.get(key)
            if hit is None:
                hit = self.by_value[key] = len(self.values)
                self.values.append(key)
            self.by_id[id(src)] = hit
            self._alive.append(src)
        return hit


def _peer_masks(
    r: Resolver, filters: Mapping[str, Sequence[Mapping[str, Any]]], via: Sequence[ViaPair]
) -> tuple[list[str], dict[str, int]]:
    """Device names in rank order, and per device its peers' mask (shared per identity)."""
    names = sorted({n.name for n in r.nodes})
    rank = {name: i for i, name in enumerate(names)}
    width = len(names)
    numbering = _Sources()
    held: dict[str, set[int]] = {n.name: set() for n in r.nodes}
    for name, rules in filters.items():
        mine = held[name]
        for rule in rules:
            mine.add(numbering.sid(rule.get("SrcIPs") or ()))
    for src, routers in via:
        sid = numbering.sid(src)
        for router in routers:
            held[router].add(sid)
    holders: list[list[int]] = [[] for _ in numbering.values]
    for name, sids in held.items():
        for sid in sids:
            holders[sid].append(rank[name])
    reach = _Reach(r, rank)
    reach_masks: list[int] = []
    inside: list[list[int]] = [[] for _ in names]
    for sid, src in enumerate(numbering.values):
        members = reach.indices(src)
        reach_masks.append(mask_of(members, width))
        for m in members:
            inside[m].append(sid)
    holder_masks = [mask_of(h, width) for h in holders]
    merged: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    out: dict[str, int] = {}
    for n in r.nodes:
        key = (tuple(sorted(held[n.name])), tuple(inside[rank[n.name]]))
        mask = merged.get(key)
        if mask is None:
            mask = 0
            for sid in key[0]:
                mask |= reach_masks[sid]
            for sid in key[1]:
                mask |= holder_masks[sid]
            merged[key] = mask
        out[n.name] = mask
    return names, out


def peer_sets(
    r: Resolver, filters: Mapping[str, Sequence[Mapping[str, Any]]], via: Sequence[ViaPair] = ()
) -> dict[str, frozenset[str]]:
    """Per device, its peers (shared frozensets; a device may appear in its own set)."""
    names, masks = _peer_masks(r, filters, via)
    shared: dict[int, frozenset[str]] = {}
    out: dict[str, frozenset[str]] = {}
    for name, mask in masks.items():
        peers = shared.get(mask)
        if peers is None:
            peers = shared[mask] = frozenset(pick(names, mask))
        out[name] = peers
    return out


def peer_map(
    r: Resolver, filters: Mapping[str, Sequence[Mapping[str, Any]]], via: Sequence[ViaPair] = ()
) -> dict[str, list[str]]:
    """Per device, its peers' names sorted, itself excluded.

    Devices with the same peers share one list: treat the lists as read-only.
    """
    names, masks = _peer_masks(r, filters, via)
    rank = {name: i for i, name in enumerate(names)}
    shared: dict[int, list[str]] = {}
    out: dict[str, list[str]] = {}
    for name, mask in masks.items():
        mask &= ~(1 << rank[name])
        peers = shared.get(mask)
        if peers is None:
            peers = shared[mask] = pick(names, mask)
        out[name] = peers
    return out
