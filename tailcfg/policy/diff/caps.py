"""Application capabilities (grants with ``app``) gained and lost, from compiled filters.

A device's packet filter carries ``CapGrant`` rules: ``{"SrcIPs": [...], "CapGrant":
[{"Dsts": [prefixes], "CapMap": {capability: [values]}}]}``. For every device where
they differ between the two sides, each side's set of facts ``(src, dst, capability)``
is computed — ``src`` a device (``("dev", name)``) or an address range that is no
device's (``("net", family, lo, hi)``), ``dst`` the device itself or an address it
routes — and the set differences are the capabilities gained and lost. A capability
reads as its name, followed by its values as JSON when it has any.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailcfg.policy.diff.access import CapFacts, DstKey, SrcKey
from tailcfg.policy.diff.universe import Side, Universe
from tailcfg.policy.evaluate.filter_match import IntervalSet, parse_range
from tailcfg.policy.evaluate.world import node_addrs
from tailcfg.policy.model.nodes import Node


def cap_text(name: str, values: Any) -> str:
    """``name``, or ``name [values]`` when the capability carries values."""
    if values in (None, [], [{}], {}):
        return name
    return f"{name} {json.dumps(values, sort_keys=True, separators=(',', ':'))}"


def _sources(u: Universe, srcs: Sequence[str]) -> list[SrcKey]:
    ivs = [iv for spec in srcs for iv in _ranges(spec)]
    out: list[SrcKey] = []
    for family in (4, 6):
        mask = u.index.mask(IntervalSet(iv for iv in ivs if iv[0] == family), family)
        while mask:
            low = mask & -mask
            mask ^= low
            out.append(("dev", u.sources[low.bit_length() - 1].name))
    for iv in ivs:
        if not (iv[1] == iv[2] and (iv[0], iv[1]) in u.device_addrs):
            out.append(("net", *iv))
    return list(dict.fromkeys(out))


def _ranges(spec: str) -> tuple[tuple[int, int, int], ...]:
    try:
        return parse_range(spec)
    except ValueError:
        return ()


def _dsts(node: Node, prefixes: Iterable[str]) -> list[DstKey]:
    own = node_addrs(node)
    out: list[DstKey] = []
    for prefix in prefixes:
        for iv in _ranges(prefix):
            mine = any(f == iv[0] and iv[1] <= a <= iv[2] for f, a in own)
            out.append(("dev", node.name) if mine else ("net", node.name, *iv))
    return list(dict.fromkeys(out))


def _facts(u: Universe, node: Node, rules: Sequence[Mapping[str, Any]]) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for rule in rules:
        grants = rule.get("CapGrant") or ()
        if not grants:
            continue
        srcs = _sources(u, list(rule.get("SrcIPs") or ()))
        for grant in grants:
            dsts = _dsts(node, grant.get("Dsts") or ())
            caps = [cap_text(k, v) for k, v in (grant.get("CapMap") or {}).items()]
            out.update((s, d, c) for s in srcs for d in dsts for c in caps)
    return out


def cap_delta(
    u: Universe, old: Side, new: Side, *, only: frozenset[str] | None = None
) -> tuple[CapFacts, CapFacts]:
    """(gained, lost): ``(src, dst) -> {capability text}`` over every (dirty) device."""
    gained: CapFacts = {}
    lost: CapFacts = {}
    for node in u.nodes:
        if only is not None and node.name not in only:
            continue
        a = [r for r in old.packet_filter(node) if r.get("CapGrant")]
        b = [r for r in new.packet_filter(node) if r.get("CapGrant")]
        if a == b:
            continue
        before, after = _facts(u, node, a), _facts(u, node, b)
        for facts, diff in ((gained, after - before), (lost, before - after)):
            for src, dst, cap in diff:
                facts.setdefault((src, dst), set()).add(cap)
    return gained, lost
