"""Provenance: the indexed lookup names the same rules as scanning every rule.

A hypothesis property over generated ACLs and grants (sources of every kind, destinations
``*``, ``autogroup:self``, tags, hosts, CIDRs, the internet; port lists and ranges;
protocols) compares :meth:`Provenance.granting` and :meth:`Provenance.misses` with the
plain scan in ``provenance_scan.py``, many queries per policy on one ``Provenance`` so
its lazy caches are exercised in any order. A table pins whole answers on the shared
engine tailnet.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from enginecases import BASE, NODES, TAG_OWNERS, USERS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from provenance_scan import Query, Scan

from tailcfg.errors import PolicyError
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS, Addr
from tailcfg.policy.evaluate.provenance import Miss, Provenance
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy

# Sources and destinations of every kind the engine tailnet can resolve.
IDENTITIES = ["group:admins", "group:all", *USERS, *TAG_OWNERS]
NAMES = [*IDENTITIES, "autogroup:member", "autogroup:tagged", "lan"]
SRCS = ["*", *NAMES, "100.64.0.3", "10.1.0.0/16"]
DSTS = ["*", *NAMES, "autogroup:self", "autogroup:internet", "box", "10.1.0.0/16", "100.64.0.2"]
PORTS = ["*", "22", "80,443", "1000-2000", "5432", "22,1000-1500,443"]
IPS = ["*", "tcp:22", "udp:53", "443", "icmp:*", "tcp:1000-1200,22"]


@st.composite
def rules(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Up to five ACLs and three grants over every kind of source and destination."""

    def pick(items: list[str], most: int) -> list[str]:
        return draw(st.lists(st.sampled_from(items), min_size=1, max_size=most))

    acls = []
    for _ in range(draw(st.integers(0, 5))):
        dst = [f"{alias}:{draw(st.sampled_from(PORTS))}" for alias in pick(DSTS, 3)]
        acl: dict[str, Any] = {"action": "accept", "src": pick(SRCS, 3), "dst": dst}
        proto = draw(st.sampled_from([None, "tcp", "udp"]))
        acls.append(acl if proto is None else {**acl, "proto": proto})
    grants: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        grants.append({"src": pick(SRCS, 2), "dst": pick(DSTS, 2), "ip": pick(IPS, 2)})
    return acls, grants


BY_ADDR: dict[Addr, Node] = {}
for _n in NODES:
    for _a in _n.addresses:
        _p = addrs.parse_addr(_a)
        assert _p is not None
        BY_ADDR[_p] = _n
OTHER = ["10.1.2.5", "10.1.9.9", "8.8.8.8", "100.100.1.1", "fd7a:115c:a1e0::99"]
ADDRS: list[Addr] = [*BY_ADDR, *(a for t in OTHER if (a := addrs.parse_addr(t)))]
PROTOS = [DEFAULT_PROTOS, frozenset({6}), frozenset({17}), frozenset({1}), frozenset({6, 17})]


@st.composite
def queries(draw: st.DrawFn) -> Query:
    src, dst = draw(st.sampled_from(ADDRS)), draw(st.sampled_from(ADDRS))
    port = draw(st.sampled_from([22, 53, 80, 443, 1100, 1600, 5432, 65535]))
    protos = draw(st.sampled_from(PROTOS))
    # graph asks for routes without a destination device
    dst_node = BY_ADDR.get(dst) if draw(st.booleans()) else None
    return Query(src, dst, port, protos, BY_ADDR.get(src), dst_node)


def _policy(acls: list[dict[str, Any]], grants: list[dict[str, Any]]) -> Policy:
    try:
        return load_policy(json.dumps({**BASE, "acls": acls, "grants": grants}), users=USERS)
    except PolicyError:
        assume(False)
        raise


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(rules(), st.lists(queries(), min_size=1, max_size=40), st.booleans())
def test_indexed_lookup_agrees_with_the_scan(
    policy_rules: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    asked: list[Query],
    warm: bool,
) -> None:
    policy = _policy(*policy_rules)
    resolver = Resolver(policy, NODES)
    prov = Provenance(policy, resolver)
    if warm:
        prov.warm()
    reference = Scan(policy, resolver)
    for q in asked:
        args = (q.src, q.dst, q.port, q.protos)
        got = prov.granting(*args, src_node=q.src_node, dst_node=q.dst_node)
        assert got == reference.granting(q), q
        near = prov.misses(*args, src_node=q.src_node, dst_node=q.dst_node)
        assert near == reference.misses(q), q


POLICY = {
    **BASE,
    "acls": [
        {"action": "accept", "src": ["group:admins"], "dst": ["tag:web:22,443"]},
        {"action": "accept", "src": ["*"], "dst": ["lan:53"], "proto": "udp"},
        {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]},
    ],
    "grants": [
        {"src": ["tag:web"], "dst": ["tag:db", "10.1.0.0/16"], "ip": ["tcp:5432", "icmp:*"]},
        {"src": ["freya@example.com"], "dst": ["tag:web"], "ip": ["80"]},
    ],
}


def _addr(text: str) -> Addr:
    parsed = addrs.parse_addr(text)
    assert parsed is not None
    return parsed


LAPTOP, PHONE, TABLET = _addr("100.64.0.1"), _addr("100.64.0.2"), _addr("100.64.0.3")
WEB, DB = _addr("100.64.0.10"), _addr("100.64.0.11")
LAN_HOST, WIDER = _addr("10.1.2.5"), _addr("10.1.9.9")
TCP, UDP, ICMP = frozenset({6}), frozenset({17}), frozenset({1})
NODE = {n.name: n for n in NODES}


def _ref(section: str, index: int, policy: Policy) -> RuleRef:
    rule = policy.acls[index] if section == "acls" else policy.grants[index]
    return RuleRef(section, index, rule.span)


@pytest.fixture(scope="module")
def table_policy() -> tuple[Policy, Provenance]:
    policy = load_policy(json.dumps(POLICY), users=USERS)
    return policy, Provenance(policy, Resolver(policy, NODES))


@pytest.mark.parametrize(
    ("src", "dst", "port", "protos", "nodes", "want"),
    [
        (LAPTOP, WEB, 22, TCP, ("laptop", "web"), [("acls", 0)]),
        (LAPTOP, DB, 443, TCP, ("laptop", "db"), [("acls", 0)]),  # db is tagged web too
        (LAPTOP, WEB, 80, TCP, ("laptop", "web"), []),
        (TABLET, WEB, 80, UDP, ("tablet", "web"), [("grants", 1)]),
        (WEB, DB, 5432, TCP, ("web", "db"), [("grants", 0)]),
        (WEB, DB, 5432, UDP, ("web", "db"), []),
        (WEB, LAN_HOST, 0, ICMP, ("web", None), [("grants", 0)]),
        (LAPTOP, LAN_HOST, 53, UDP, ("laptop", None), [("acls", 1)]),
        (LAPTOP, WIDER, 53, UDP, ("laptop", None), []),  # lan is 10.1.2.0/24 only
        (LAPTOP, PHONE, 8080, TCP, ("laptop", "phone"), [("acls", 2)]),
        (LAPTOP, TABLET, 8080, TCP, ("laptop", "tablet"), []),  # another owner
        (LAPTOP, PHONE, 8080, TCP, ("laptop", None), []),  # self needs both devices
    ],
)
def test_granting_table(
    table_policy: tuple[Policy, Provenance],
    src: Addr,
    dst: Addr,
    port: int,
    protos: frozenset[int],
    nodes: tuple[str, str | None],
    want: list[tuple[str, int]],
) -> None:
    policy, prov = table_policy
    src_node = NODE[nodes[0]]
    dst_node = NODE[nodes[1]] if nodes[1] is not None else None
    got = prov.granting(src, dst, port, protos, src_node=src_node, dst_node=dst_node)
    assert got == [_ref(s, i, policy) for s, i in want]


def test_misses_table(table_policy: tuple[Policy, Provenance]) -> None:
    policy, prov = table_policy
    got = prov.misses(LAPTOP, WEB, 80, TCP, src_node=NODE["laptop"], dst_node=NODE["web"])
    assert got == [
        Miss(_ref("acls", 0, policy), "port", "ports 22,443"),
        Miss(_ref("grants", 1, policy), "src", "matches the destination, not the source"),
    ]


def test_no_rules_is_the_default_allow_all() -> None:
    policy = load_policy(json.dumps(BASE), users=USERS)
    prov = Provenance(policy, Resolver(policy, NODES))
    got = prov.granting(LAPTOP, WEB, 22, TCP)
    assert got == [RuleRef("default allow-all: no acls or grants", -1, policy.span)]
