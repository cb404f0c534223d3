"""Properties of compile: more rules never remove access, order never changes access,
the same input always compiles to the same output."""

from __future__ import annotations

import json
from typing import Any

from enginecases import BASE, NODES, USERS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tailcfg.errors import PolicyError
from tailcfg.policy.compile.compiled import CompiledPolicy
from tailcfg.policy.compile.engine import compile_policy, load_policy
from tailcfg.policy.model import addrs

SRCS = [
    "*",
    "group:admins",
    "group:all",
    "freya@example.com",
    "tag:web",
    "tag:db",
    "autogroup:member",
    "autogroup:tagged",
    "100.64.0.3",
    "lan",
]
DSTS = [
    "autogroup:self",
    "*",
    "tag:web",
    "tag:db",
    "tag:router",
    "group:admins",
    "odin@example.com",
    "autogroup:member",
    "autogroup:tagged",
    "autogroup:internet",
    "box",
    "lan",
    "10.1.0.0/16",
]
PORTS = ["*", "22", "80,443", "1000-2000", "5432"]
PROTOS = [None, "tcp", "udp"]

acl = st.builds(
    lambda src, dst, proto: {
        "action": "accept",
        "src": src,
        "dst": dst,
        **({"proto": proto} if proto else {}),
    },
    st.lists(st.sampled_from(SRCS), min_size=1, max_size=3),
    st.lists(
        st.builds(lambda a, p: f"{a}:{p}", st.sampled_from(DSTS), st.sampled_from(PORTS)),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from(PROTOS),
)
grant = st.builds(
    lambda src, dst, ip: {"src": src, "dst": dst, "ip": ip},
    st.lists(st.sampled_from(SRCS), min_size=1, max_size=2),
    st.lists(st.sampled_from(DSTS), min_size=1, max_size=2),
    st.lists(st.sampled_from(["*", "tcp:22", "udp:53", "443", "icmp:*"]), min_size=1, max_size=2),
)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def compile_doc(acls: list[dict[str, Any]], grants: list[dict[str, Any]]) -> CompiledPolicy:
    """Compile; combinations the server rejects (autogroup:self with tags...) are skipped."""
    doc = {**BASE, "acls": acls, "grants": grants}
    try:
        policy = load_policy(json.dumps(doc), users=USERS)
    except PolicyError:
        assume(False)
        raise
    return compile_policy(policy, NODES)


Fact = tuple[str, str, str, int, int, tuple[int, ...]]


def access(c: CompiledPolicy) -> set[Fact]:
    """Every (source address, device, destination, first, last, protocols) allowed."""
    facts: set[Fact] = set()
    for name, node in c.nodes.items():
        for rule in node.packet_filter:
            proto = tuple(rule.get("IPProto") or ())
            for src in rule["SrcIPs"]:
                for d in rule.get("DstPorts", ()):
                    p = d["Ports"]
                    facts.add((src, name, d["IP"], p["First"], p["Last"], proto))
    return facts


def covered(facts: set[Fact], fact: Fact) -> bool:
    """``fact`` is allowed by ``facts`` (sources may be listed inside a wider entry)."""
    src, name, ip, first, last, proto = fact
    src_iv = addrs.parse_interval(src)
    for s, n, i, f, la, pr in facts:
        if n != name or i != ip or pr != proto or not (f <= first and last <= la):
            continue
        if s == src or s == "*":
            return True
        outer = addrs.parse_interval(s)
        if outer and src_iv and addrs.contains(outer, src_iv):
            return True
    return False


@SETTINGS
@given(st.lists(acl, max_size=4), st.lists(grant, max_size=2), acl)
def test_adding_an_accept_rule_never_removes_access(
    acls: list[dict[str, Any]], grants: list[dict[str, Any]], extra: dict[str, Any]
) -> None:
    before = access(compile_doc(acls, grants))
    after = access(compile_doc([*acls, extra], grants))
    assert all(covered(after, fact) for fact in before)


@SETTINGS
@given(st.lists(acl, min_size=1, max_size=5), st.lists(grant, max_size=3), st.randoms())
def test_shuffling_rules_never_changes_access(
    acls: list[dict[str, Any]], grants: list[dict[str, Any]], rnd: Any
) -> None:
    shuffled_acls, shuffled_grants = list(acls), list(grants)
    rnd.shuffle(shuffled_acls)
    rnd.shuffle(shuffled_grants)
    assert access(compile_doc(acls, grants)) == access(compile_doc(shuffled_acls, shuffled_grants))


@SETTINGS
@given(st.lists(acl, max_size=5), st.lists(grant, max_size=3))
def test_compile_is_deterministic(acls: list[dict[str, Any]], grants: list[dict[str, Any]]) -> None:
    first = json.dumps(compile_doc(acls, grants).to_json())
    assert json.dumps(compile_doc(acls, grants).to_json()) == first
