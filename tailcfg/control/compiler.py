"""Compile the policy for the control plane's devices, with peers in near-linear time.

The filters and SSH policies are the policy engine's, computed per device exactly as
``compile_policy`` does. Peers are the same relation as the engine's (a and b are peers
when either one's packet filter admits the other as a source), computed with shared sets:
for each distinct ``SrcIPs`` list S, R(S) = devices inside S and D(S) = devices whose
filter has a rule from S; then peers(a) = ∪ R(S) over a's rules ∪ ∪ D(S) over the S
containing a, minus a. Devices with the same sources share one set object, which may
contain the device itself: consumers ignore their own name. With the allow-all policy that
is one union for all devices instead of a million inserts (1,000 devices: ~0.1 s, not ~1-2 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tailcfg.policy import addrs
from tailcfg.policy.compile import _Compiler
from tailcfg.policy.filters import build_rules
from tailcfg.policy.model import Policy
from tailcfg.policy.nodes import Node
from tailcfg.policy.resolve import Resolver
from tailcfg.policy.ssh import compile_ssh

Filter = list[dict[str, Any]]


def compile_devices(
    policy: Policy, nodes: Sequence[Node], *, check_url: str
) -> dict[str, tuple[Filter, dict[str, Any], frozenset[str]]]:
    """Per device name: (packet filter, SSH policy, peers — possibly including itself)."""
    resolver = Resolver(policy, nodes)
    compiler = _Compiler(build_rules(policy, resolver), resolver)
    filters = {n.name: compiler.node_filter(n) for n in resolver.nodes}
    peers = peer_sets(resolver, filters)
    return {
        n.name: (
            filters[n.name],
            compile_ssh(policy, resolver, n, check_url=check_url),
            peers[n.name],
        )
        for n in resolver.nodes
    }


def peer_sets(resolver: Resolver, filters: dict[str, Filter]) -> dict[str, frozenset[str]]:
    everyone = frozenset(n.name for n in resolver.nodes)
    reach: dict[tuple[str, ...], frozenset[str]] = {}
    holders: dict[tuple[str, ...], set[str]] = {}
    sources: dict[str, set[tuple[str, ...]]] = {}
    for name, rules in filters.items():
        mine = sources.setdefault(name, set())
        for rule in rules:
            src = tuple(rule.get("SrcIPs") or ())
            if src not in reach:
                reach[src] = everyone if "*" in src else _inside(resolver, src)
                holders[src] = set()
            holders[src].add(name)
            mine.add(src)
    containing: dict[str, list[tuple[str, ...]]] = {}
    for src, members in reach.items():
        for member in members:
            containing.setdefault(member, []).append(src)
    frozen = {s: frozenset(h) for s, h in holders.items()}
    merged: dict[tuple[tuple[str, ...], ...], frozenset[str]] = {}
    out: dict[str, frozenset[str]] = {}
    for name in everyone:
        key = (*sorted(sources.get(name, ())), (), *sorted(containing.get(name, ())))
        peers = merged.get(key)
        if peers is None:
            parts = [reach[s] for s in sources.get(name, ())]
            parts += [frozen[s] for s in containing.get(name, ())]
            peers = frozenset().union(*parts)
            merged[key] = peers
        out[name] = peers
    return out


def _inside(resolver: Resolver, src: tuple[str, ...]) -> frozenset[str]:
    names: set[str] = set()
    for text in src:
        interval = addrs.parse_interval(text)
        if interval is not None:
            names.update(n.name for n in resolver.nodes_in(interval))
    return frozenset(names)
