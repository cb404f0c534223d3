"""Properties of policy diff (hypothesis) over generated policies and a small topology.

- diff(p, p) and diff(fmt(p), p) are empty;
- what diff(a, b) reports as gained is exactly what diff(b, a) reports as lost;
- adding one rule gains exactly the access it grants beyond what was already granted
  (checked against each destination's compiled packet filter), loses nothing, and every
  gained row names that rule;
- pruning before compiling changes nothing: the facts equal those of a full compile.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tailcfg import hujson
from tailcfg.errors import PolicyError
from tailcfg.policy.compile.engine import compile_policy, load_policy
from tailcfg.policy.diff.access import Facts, access_delta
from tailcfg.policy.diff.caps import cap_delta
from tailcfg.policy.diff.compare import diff_policies
from tailcfg.policy.diff.universe import build_universe
from tailcfg.policy.evaluate.filter_match import PacketFilter, parse_addr
from tailcfg.policy.model.nodes import Node, nodes_from_list
from tailcfg.policy.model.policy import Policy

USERS = ["ann@example.com", "ben@example.com", "cid@example.com"]
TAGS = ["tag:web", "tag:db", "tag:ci", "tag:gw"]
HOSTS = {
    "lan": "192.168.0.0/24",
    "db-host": "100.64.2.1",
    "nas": "192.168.0.10",
    "office": "10.1.0.0/16",
}
GROUPS = {"group:eng": ["ann@example.com", "ben@example.com"], "group:ops": ["cid@example.com"]}
SRCS = [*USERS, *TAGS, *GROUPS, "autogroup:member", "*", "lan"]
DSTS = [*USERS, *TAGS, *GROUPS, *HOSTS, "autogroup:internet", "*"]
PORTS = ["22", "80-82", "443,8443", "*", "5432"]

NODES = nodes_from_list(
    [
        {"name": "ann-1", "user": USERS[0], "ipv4": "100.64.0.1", "ipv6": "fd7a:115c:a1e0::1"},
        {"name": "ann-2", "user": USERS[0], "ipv4": "100.64.0.2", "ipv6": "fd7a:115c:a1e0::2"},
        {"name": "ben-1", "user": USERS[1], "ipv4": "100.64.0.3", "ipv6": "fd7a:115c:a1e0::3"},
        {"name": "web-1", "tags": ["tag:web"], "ipv4": "100.64.1.1", "ipv6": "fd7a:115c:a1e0::11"},
        {"name": "web-2", "tags": ["tag:web"], "ipv4": "100.64.1.2", "ipv6": "fd7a:115c:a1e0::12"},
        {"name": "db-1", "tags": ["tag:db"], "ipv4": "100.64.2.1", "ipv6": "fd7a:115c:a1e0::21"},
        {
            "name": "gw",
            "tags": ["tag:gw"],
            "ipv4": "100.64.3.1",
            "ipv6": "fd7a:115c:a1e0::31",
            "routable_ips": ["192.168.0.0/24", "0.0.0.0/0", "::/0"],
            "approved_routes": ["192.168.0.0/24", "0.0.0.0/0", "::/0"],
        },
        {
            "name": "gw-2",
            "tags": ["tag:gw"],
            "ipv4": "100.64.3.2",
            "ipv6": "fd7a:115c:a1e0::32",
            "routable_ips": ["10.1.0.0/16", "0.0.0.0/0", "::/0"],
        },
    ]
)

acl = st.fixed_dictionaries(
    {
        "action": st.just("accept"),
        "src": st.lists(st.sampled_from(SRCS), min_size=1, max_size=2, unique=True),
        "dst": st.lists(
            st.builds(lambda a, p: f"{a}:{p}", st.sampled_from(DSTS), st.sampled_from(PORTS)),
            min_size=1,
            max_size=2,
            unique=True,
        ),
    },
    optional={"proto": st.sampled_from(["tcp", "udp"])},
)
ssh_rule = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["accept", "check"]),
        "src": st.lists(st.sampled_from([*USERS, *GROUPS]), min_size=1, max_size=2, unique=True),
        "dst": st.lists(st.sampled_from(["autogroup:self", *TAGS]), min_size=1, max_size=1),
        "users": st.lists(
            st.sampled_from(["root", "autogroup:nonroot", "ubuntu"]), min_size=1, unique=True
        ),
    }
)
grant = st.fixed_dictionaries(
    {
        "src": st.lists(st.sampled_from(SRCS), min_size=1, max_size=2, unique=True),
        "dst": st.lists(st.sampled_from([*USERS, *TAGS]), min_size=1, max_size=2, unique=True),
    },
    optional={
        "ip": st.lists(st.sampled_from(["tcp:22", "udp:53", "443", "*"]), min_size=1),
        "app": st.sampled_from(
            [
                {"example.com/cap/admin": [{}]},
                {"tailscale.com/cap/drive": [{"shares": ["*"], "access": "rw"}]},
            ]
        ),
    },
).filter(lambda g: "ip" in g or "app" in g)
policy_doc = st.fixed_dictionaries(
    {
        "groups": st.just(GROUPS),
        "hosts": st.just(HOSTS),
        "tagOwners": st.just({t: ["group:eng"] for t in TAGS}),
        "acls": st.lists(acl, min_size=1, max_size=5),
        "ssh": st.lists(ssh_rule, max_size=2),
    },
    optional={
        "grants": st.lists(grant, min_size=1, max_size=2),
        "autoApprovers": st.fixed_dictionaries(
            {},
            optional={
                "routes": st.fixed_dictionaries(
                    {"10.1.0.0/16": st.sampled_from([["tag:gw"], ["tag:web"]])}
                ),
                "exitNode": st.sampled_from([["tag:gw"], ["autogroup:member"]]),
            },
        ),
    },
)
topology = st.sampled_from([None, NODES])
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(doc: dict[str, Any], path: str = "p.hujson") -> Policy:
    try:
        return load_policy(json.dumps(doc), path)
    except PolicyError:
        assume(False)
        raise


def expand(facts: Facts) -> set[tuple[Any, ...]]:
    """Facts as single ports (small policies only)."""
    return {
        (src, dst, proto, port)
        for (src, dst), pm in facts.items()
        for proto, ranges in pm.items()
        for a, b in ranges
        for port in range(a, min(b, a + 3) + 1)
    }


@SETTINGS
@given(policy_doc, topology)
def test_diff_with_itself_is_empty(doc: dict[str, Any], nodes: tuple[Node, ...] | None) -> None:
    p = load(doc)
    d = diff_policies(p, p, nodes=nodes)
    assert not d.changed
    assert d.facts == ({}, {}) and d.delta.ssh == {} and d.delta.caps_gained == {}


@SETTINGS
@given(policy_doc, st.sampled_from([0, 1, 3]), st.booleans(), topology)
def test_diff_with_formatted_is_empty(
    doc: dict[str, Any], indent: int, reverse: bool, nodes: tuple[Node, ...] | None
) -> None:
    p = load(doc)
    moved = dict(reversed(list(doc.items()))) if reverse else doc
    text = "// reformatted\n" + json.dumps(moved, indent=indent or None)
    formatted = load_policy(hujson.format_text(text, "f.hujson"), "f.hujson")
    d = diff_policies(formatted, p, nodes=nodes)
    assert not d.changed
    assert d.facts == ({}, {}) and d.delta.ssh == {}


@SETTINGS
@given(policy_doc, policy_doc, topology)
def test_gained_is_the_reverse_lost(
    a_doc: dict[str, Any], b_doc: dict[str, Any], nodes: tuple[Node, ...] | None
) -> None:
    a, b = load(a_doc, "a.hujson"), load(b_doc, "b.hujson")
    ab, ba = diff_policies(a, b, nodes=nodes), diff_policies(b, a, nodes=nodes)
    assert ab.facts[0] == ba.facts[1]
    assert ab.facts[1] == ba.facts[0]
    assert ab.gained == ba.lost and ab.lost == ba.gained
    flipped = {k: (v[1], v[0]) for k, v in ba.delta.ssh.items()}
    assert ab.delta.ssh == flipped
    assert (ab.delta.caps_gained, ab.delta.caps_lost) == (ba.delta.caps_lost, ba.delta.caps_gained)
    assert ab.caps_gained == ba.caps_lost


@SETTINGS
@given(policy_doc, policy_doc, topology)
def test_pruning_changes_nothing(
    a_doc: dict[str, Any], b_doc: dict[str, Any], nodes: tuple[Node, ...] | None
) -> None:
    a, b = load(a_doc, "a.hujson"), load(b_doc, "b.hujson")
    u = build_universe(a, b, nodes)
    full = access_delta(u, u.side(a), u.side(b))
    d = diff_policies(a, b, nodes=nodes)
    assert d.facts == (full.gained, full.lost)
    assert d.delta.ssh == full.ssh
    assert (d.delta.caps_gained, d.delta.caps_lost) == cap_delta(u, u.side(a), u.side(b))


def _admitted(filters: dict[str, PacketFilter], src: Node, dst: Node, port: int) -> bool:
    pairs = [(src.ipv4, dst.ipv4), (src.ipv6, dst.ipv6)]
    tcp = frozenset({6})
    return any(filters[dst.name].admits(parse_addr(s), parse_addr(d), port, tcp) for s, d in pairs)


@SETTINGS
@given(
    policy_doc,
    st.sampled_from([x for x in SRCS if x != "lan"]),
    st.sampled_from([*TAGS, *USERS]),
    st.integers(20, 24),
    st.integers(0, 3),
)
def test_added_rule_gains_exactly_its_new_access(
    doc: dict[str, Any], src: str, dst: str, first: int, width: int
) -> None:
    old = load(doc)
    rule = {"action": "accept", "src": [src], "dst": [f"{dst}:{first}-{first + width}"]}
    rule["proto"] = "tcp"
    new = load({**doc, "acls": [*doc["acls"], rule]})
    d = diff_policies(old, new, nodes=NODES)
    assert d.facts[1] == {} and d.lost == ()
    by_name = {n.name: n for n in NODES}
    compiled = compile_policy(old, NODES).nodes
    filters = {name: PacketFilter(c.packet_filter) for name, c in compiled.items()}
    u = build_universe(old, new, NODES)
    r = u.side(new).resolver
    srcs = r.devices_for(src) if src != "autogroup:member" else r.members
    expected = {
        (("dev", s.name), ("dev", t.name), 6, port)
        for s in srcs
        for t in r.devices_for(dst)
        for port in range(first, first + width + 1)
        if s.name in by_name
        and t.name in by_name
        and not _admitted(filters, by_name[s.name], by_name[t.name], port)
    }
    gained = {f for f in expand(d.facts[0]) if f[0][1] in by_name and f[1][1] in by_name}
    assert gained == expected
    added = f"acls[{len(doc['acls'])}]"
    assert all([r.name for r in c.rules] == [added] for c in d.gained), d.gained
