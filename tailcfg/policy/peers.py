"""Which devices see each other: a and b are peers when either may send to the other.

A rule's source list S reaches R(S): the devices with an address inside S and the subnet
routers whose approved routes overlap S (traffic from a subnet arrives through its
router). A device holding a rule from S is a peer of everything in R(S), and vice versa.
A ``via`` grant (even an app-only one) pairs its sources with its via routers.

:func:`peer_sets` shares one set between devices with the same sources (the allow-all
policy is one union, not a million inserts); sets may contain the device itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailcfg.policy import addrs
from tailcfg.policy.addrs import Interval
from tailcfg.policy.resolve import Resolver

Sources = tuple[str, ...]
ViaPair = tuple[Sources, Sequence[str]]


class _Reach:
    def __init__(self, r: Resolver) -> None:
        self.r = r
        self.everyone = frozenset(n.name for n in r.nodes)
        self.routers = [(n.name, ivs) for n in r.nodes if (ivs := r.subnet_route_intervals(n))]
        self._tokens: dict[str, tuple[str, ...]] = {}
        self._sources: dict[Sources, frozenset[str]] = {}

    def token(self, text: str) -> tuple[str, ...]:
        hit = self._tokens.get(text)
        if hit is None:
            iv = addrs.parse_interval(text)
            found: list[str] = []
            if iv is not None:
                found = [n.name for n in self.r.nodes_in(iv)]
                if self.r.route_space.overlaps(iv):
                    found += [n for n, ivs in self.routers if _overlaps_any(iv, ivs)]
            hit = self._tokens[text] = tuple(found)
        return hit

    def __call__(self, src: Sources) -> frozenset[str]:
        hit = self._sources.get(src)
        if hit is None:
            if "*" in src:
                hit = self.everyone
            else:
                hit = frozenset(name for text in src for name in self.token(text))
            self._sources[src] = hit
        return hit


def _overlaps_any(iv: Interval, ivs: Iterable[Interval]) -> bool:
    return any(addrs.overlaps(iv, x) for x in ivs)


def peer_sets(
    r: Resolver, filters: Mapping[str, Sequence[Mapping[str, Any]]], via: Sequence[ViaPair] = ()
) -> dict[str, frozenset[str]]:
    """Per device, its peers (shared frozensets; a device may appear in its own set)."""
    reach = _Reach(r)
    sources: dict[str, set[Sources]] = {n.name: set() for n in r.nodes}
    holders: dict[Sources, set[str]] = {}
    for name, rules in filters.items():
        for rule in rules:
            src = tuple(rule.get("SrcIPs") or ())
            sources[name].add(src)
            holders.setdefault(src, set()).add(name)
    for src, routers in via:
        for router in routers:
            sources[router].add(src)
            holders.setdefault(src, set()).add(router)
    containing: dict[str, list[Sources]] = {}
    for src in holders:
        for member in reach(src):
            containing.setdefault(member, []).append(src)
    frozen = {s: frozenset(h) for s, h in holders.items()}
    merged: dict[tuple[Sources, ...], frozenset[str]] = {}
    out: dict[str, frozenset[str]] = {}
    for n in r.nodes:
        mine = sorted(sources[n.name])
        inside = sorted(containing.get(n.name, ()))
        key = (*mine, ("",), *inside)
        peers = merged.get(key)
        if peers is None:
            parts = [reach(s) for s in mine] + [frozen[s] for s in inside]
            peers = merged[key] = frozenset().union(*parts)
        out[n.name] = peers
    return out


def peer_map(
    r: Resolver, filters: Mapping[str, Sequence[Mapping[str, Any]]], via: Sequence[ViaPair] = ()
) -> dict[str, list[str]]:
    """Per device, its peers' names sorted, itself excluded."""
    return {
        name: sorted(p for p in peers if p != name)
        for name, peers in peer_sets(r, filters, via).items()
    }
