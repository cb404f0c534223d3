"""The engine's fast paths agree with slow, obvious references (hypothesis).

- peers: :func:`peer_sets` / :func:`peer_map` (bitmasks shared per identity) against the
  pairwise definition — a and b are peers when a holds a rule whose sources reach b, or
  the other way round (subnet routers reached through their approved routes, ``*``
  reaching everyone, via pairs);
- :meth:`DeviceIndex.specs_mask` against :meth:`DeviceIndex.mask` of the parsed set;
- :class:`AddrSet` membership against a scan of its intervals;
- :meth:`PacketFilter.admitted_devices` against asking :meth:`PacketFilter.admits`
  for every device address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from enginecases import BASE, NODES, USERS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tailcfg.errors import PolicyError
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.compile.filters import build_rules
from tailcfg.policy.compile.peers import bits_of, mask_of, peer_map, peer_sets
from tailcfg.policy.compile.per_device import FilterCompiler
from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.evaluate.filter_match import (
    DEFAULT_PROTOS,
    DeviceIndex,
    IntervalSet,
    PacketFilter,
    parse_addr,
)
from tailcfg.policy.model import addrs

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SRCS = ["*", "group:all", "freya@example.com", "tag:web", "autogroup:tagged", "lan", "box"]
DSTS = ["autogroup:self", "*", "tag:web", "tag:db", "tag:router", "odin@example.com", "lan"]
acl = st.builds(
    lambda src, dst: {"action": "accept", "src": src, "dst": dst},
    st.lists(st.sampled_from(SRCS), min_size=1, max_size=2),
    st.lists(
        st.builds(lambda a, p: f"{a}:{p}", st.sampled_from(DSTS), st.sampled_from(["*", "22"])),
        min_size=1,
        max_size=2,
    ),
)
via_grant = st.builds(
    lambda src: {"src": src, "dst": ["lan"], "ip": ["*"], "via": ["tag:router"]},
    st.lists(st.sampled_from(SRCS[1:]), min_size=1, max_size=2),
)


def _reach(r: Resolver, src: Sequence[str]) -> set[str]:
    """R(S) by brute force: every device and every router, address by address."""
    if "*" in src:
        return {n.name for n in r.nodes}
    out: set[str] = set()
    for text in src:
        iv = addrs.parse_interval(text)
        if iv is None:
            continue
        for n in r.nodes:
            own = any(addrs.overlaps(iv, x) for x in r.ivs[n.name])
            routed = any(addrs.overlaps(iv, x) for x in r.subnet_route_intervals(n))
            if own or routed:
                out.add(n.name)
    return out


def _reference(
    r: Resolver,
    filters: Mapping[str, Sequence[Mapping[str, Any]]],
    via: Sequence[tuple[tuple[str, ...], Sequence[str]]],
) -> dict[str, set[str]]:
    peers: dict[str, set[str]] = {n.name: set() for n in r.nodes}
    held = [(name, rule.get("SrcIPs") or ()) for name, rules in filters.items() for rule in rules]
    held += [(router, src) for src, routers in via for router in routers]
    for holder, src in held:
        for other in _reach(r, src):
            peers[holder].add(other)
            peers[other].add(holder)
    return peers


@SETTINGS
@given(st.lists(acl, min_size=1, max_size=5), st.lists(via_grant, max_size=1))
def test_peers_agree_with_the_pairwise_definition(
    acls: list[dict[str, Any]], grants: list[dict[str, Any]]
) -> None:
    doc = {**BASE, "acls": acls, "grants": grants}
    try:
        policy = load_policy(json.dumps(doc), users=USERS)
    except PolicyError:
        assume(False)
        raise
    r = Resolver(policy, NODES)
    c = FilterCompiler(build_rules(policy, r), r)
    filters = {n.name: c.node_filter(n) for n in r.nodes}
    via = c.via_pairs()
    expected = _reference(r, filters, via)
    assert {k: set(v) for k, v in peer_sets(r, filters, via).items()} == expected
    assert peer_map(r, filters, via) == {k: sorted(v - {k}) for k, v in expected.items()}


@given(st.sets(st.integers(min_value=0, max_value=300)))
def test_mask_round_trip(bits: set[int]) -> None:
    assert bits_of(mask_of(bits, 301)) == sorted(bits)


DEVICE_V4 = [f"100.64.0.{i}" for i in (1, 2, 3, 9, 10)]
DEVICE_V6 = [f"fd7a:115c:a1e0::{i}" for i in (1, 2, 3, 9)]
SPECS = [
    *DEVICE_V4,
    *DEVICE_V6,
    "*",
    "100.64.0.0/30",
    "100.64.0.2-100.64.0.9",
    "fd7a:115c:a1e0::/120",
    "10.0.0.0/8",
    "100.64.0.77",
    "not-an-address",
]
device = st.tuples(st.sampled_from(DEVICE_V4), st.sampled_from(DEVICE_V6))


@SETTINGS
@given(st.lists(device, min_size=1, max_size=6), st.lists(st.sampled_from(SPECS), max_size=6))
def test_specs_mask_agrees_with_the_parsed_set(
    devices: list[tuple[str, str]], specs: list[str]
) -> None:
    index = DeviceIndex([(parse_addr(a), parse_addr(b)) for a, b in devices])
    parsed = IntervalSet.from_specs(specs)
    for family in (4, 6):
        assert index.specs_mask(specs, family) == index.mask(parsed, family)


port_range = st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted)
filter_rule = st.builds(
    lambda src, dsts, proto: {
        "SrcIPs": src,
        "DstPorts": [{"IP": ip, "Ports": {"First": a, "Last": b}} for ip, (a, b) in dsts],
        **({"IPProto": proto} if proto else {}),
    },
    st.lists(st.sampled_from(SPECS), max_size=4),
    st.lists(st.tuples(st.sampled_from(SPECS), port_range), min_size=1, max_size=3),
    st.sampled_from([None, [6], [17], [6, 17]]),
)


@SETTINGS
@given(
    st.lists(device, min_size=1, max_size=6),
    st.lists(filter_rule, max_size=5),
    st.sampled_from([*DEVICE_V4, *DEVICE_V6]),
    st.integers(0, 100),
    st.sampled_from([DEFAULT_PROTOS, frozenset({6}), frozenset({17})]),
)
def test_admitted_devices_agree_with_admits(
    devices: list[tuple[str, str]],
    rules: list[dict[str, Any]],
    dst: str,
    port: int,
    protos: frozenset[int],
) -> None:
    device_addrs = [(parse_addr(a), parse_addr(b)) for a, b in devices]
    index = DeviceIndex(device_addrs)
    pf = PacketFilter(rules, src_cache={})
    d = parse_addr(dst)
    expected = 0
    for i, own in enumerate(device_addrs):
        if any(s[0] == d[0] and pf.admits(s, d, port, protos) for s in own):
            expected |= 1 << i
    assert pf.admitted_devices(d, port, protos, index) == expected


interval = st.builds(
    lambda v, a, b: (v, min(a, b), max(a, b)),
    st.sampled_from([4, 6]),
    st.integers(0, 40),
    st.integers(0, 40),
)


@given(st.lists(interval, max_size=6), interval)
def test_addr_set_agrees_with_a_scan(ivs: list[addrs.Interval], probe: addrs.Interval) -> None:
    s = AddrSet(ivs)
    v, lo, _ = probe
    assert s.contains_addr(v, lo) is any(x[0] == v and x[1] <= lo <= x[2] for x in ivs)
    assert s.overlaps(probe) is any(addrs.overlaps(probe, x) for x in ivs)
    assert s.intervals == addrs.merge(ivs)
