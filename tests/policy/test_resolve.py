"""Alias resolution: which devices and addresses each kind of alias means."""

from __future__ import annotations

import json

import pytest
from enginecases import BASE, NODES, WILDCARD_SRC

from tailcfg.policy.compile.engine import load_policy, resolver
from tailcfg.policy.compile.resolve import AddrSet, AliasKind, Resolver, alias_kind
from tailcfg.policy.model import addrs

ODIN = ["100.64.0.1", "100.64.0.2", "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2"]


@pytest.fixture(scope="module")
def r() -> Resolver:
    policy = load_policy(json.dumps({**BASE, "acls": []}), users=["odin@example.com"])
    return resolver(policy, NODES)


@pytest.mark.parametrize(
    ("alias", "kind"),
    [
        ("*", AliasKind.WILDCARD),
        ("odin@example.com", AliasKind.USER),
        ("user:*@example.com", AliasKind.USER),
        ("group:admins", AliasKind.GROUP),
        ("tag:web", AliasKind.TAG),
        ("autogroup:member", AliasKind.AUTOGROUP),
        ("100.64.0.1", AliasKind.IP),
        ("10.0.0.0/8", AliasKind.IP),
        ("fd7a:115c:a1e0::1", AliasKind.IP),
        ("lan", AliasKind.HOST),
        (" tag:web ", AliasKind.TAG),
        ("bad:thing", AliasKind.INVALID),
    ],
)
def test_alias_kind(alias: str, kind: AliasKind) -> None:
    assert alias_kind(alias) is kind


@pytest.mark.parametrize(
    ("alias", "devices"),
    [
        ("odin@example.com", ["laptop", "phone"]),
        ("user:*@example.com", ["laptop", "phone", "tablet"]),
        ("group:all", ["laptop", "phone", "tablet"]),
        ("tag:web", ["web", "db"]),
        ("tag:db", ["db"]),
        ("autogroup:member", ["laptop", "phone", "tablet"]),
        ("autogroup:tagged", ["web", "db", "router", "exit"]),
        ("*", ["laptop", "phone", "tablet", "web", "db", "router", "exit"]),
        ("box", ["web"]),
        ("100.64.0.0/30", ["laptop", "phone", "tablet"]),
        ("lan", []),
        ("nobody@example.com", []),
    ],
)
def test_devices_for(r: Resolver, alias: str, devices: list[str]) -> None:
    assert [n.name for n in r.devices_for(alias)] == devices


@pytest.mark.parametrize(
    ("alias", "prefixes"),
    [
        (
            "odin@example.com",
            ["100.64.0.1", "100.64.0.2", "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2"],
        ),
        ("tag:db", ["100.64.0.11", "fd7a:115c:a1e0::b"]),
        ("lan", ["10.1.2.0/24"]),
        ("box", ["100.64.0.10"]),
        ("*", sorted(WILDCARD_SRC)),
        ("autogroup:danger-all", ["*"]),
        ("autogroup:self", []),
    ],
)
def test_src_prefixes(r: Resolver, alias: str, prefixes: list[str]) -> None:
    assert sorted(r.src_prefixes(alias)) == sorted(prefixes)


def test_dst_targets(r: Resolver) -> None:
    assert r.dst_targets("*") == ["*"]
    assert r.dst_targets("tag:web") == [
        "100.64.0.10",
        "100.64.0.11",
        "fd7a:115c:a1e0::a",
        "fd7a:115c:a1e0::b",
    ]
    assert r.dst_targets("autogroup:internet") == [
        "0.0.0.0-9.255.255.255",
        "11.0.0.0-100.63.255.255",
        "100.128.0.0-169.253.255.255",
        "169.255.0.0-172.15.255.255",
        "172.32.0.0-192.167.255.255",
        "192.169.0.0-255.255.255.255",
        "2000::-3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]


def test_routes_and_exit_nodes(r: Resolver) -> None:
    by = {n.name: n for n in NODES}
    assert r.subnet_routes(by["router"]) == ("10.1.0.0/16",)
    assert r.approved_subnet_routes == ("10.1.0.0/16",)
    # exit routes advertised but unapproved: autoApprovers.exitNode approves them
    assert r.approved_routes(by["exit"]) == ("0.0.0.0/0", "::/0")
    assert r.is_exit_node(by["exit"]) is True
    assert r.is_exit_node(by["router"]) is False


def test_route_autoapprover_for_exit_prefix_does_not_make_exit_node() -> None:
    doc = {**BASE, "acls": [], "autoApprovers": {"routes": {"0.0.0.0/0": ["tag:exit"]}}}
    r = resolver(load_policy(json.dumps(doc)), NODES)
    exit_node = next(n for n in NODES if n.name == "exit")
    assert r.approved_routes(exit_node) == ()


def test_lookup_helpers(r: Resolver) -> None:
    db = r.node_by_ip("fd7a:115c:a1e0::b")
    assert db is not None and db.name == "db"
    assert r.node_by_ip("100.99.0.1") is None
    laptop = next(n for n in NODES if n.name == "laptop")
    assert [n.name for n in r.same_user(laptop)] == ["laptop", "phone"]


def test_ipsets_add_and_remove_in_order() -> None:
    doc = {
        **BASE,
        "acls": [],
        "ipsets": {
            "ipset:lan": ["add 10.1.0.0/16", "remove 10.1.2.0/24"],
            "ipset:both": ["ipset:lan", "box"],
        },
    }
    r = resolver(load_policy(json.dumps(doc)), NODES)
    assert alias_kind("ipset:lan") is AliasKind.IPSET
    assert r.src_prefixes("ipset:lan") == ["10.1.0.0/23", "10.1.3.0-10.1.255.255"]
    assert r.src_prefixes("ipset:both") == ["10.1.0.0/23", "10.1.3.0-10.1.255.255", "100.64.0.10"]
    assert [n.name for n in r.devices_for("ipset:both")] == ["web"]


@pytest.mark.parametrize(
    ("iv", "expected"),
    [
        ((4, 5, 5), False),
        ((4, 10, 10), True),
        ((4, 0, 10), True),
        ((4, 21, 29), False),
        ((4, 25, 35), True),
        ((6, 10, 10), False),
        ((6, 100, 200), True),
    ],
)
def test_addrset_overlaps(iv: tuple[int, int, int], expected: bool) -> None:
    s = AddrSet([(4, 10, 20), (4, 30, 40), (6, 150, 150)])
    assert s.overlaps(iv) is expected


def test_interval_helpers() -> None:
    assert addrs.subtract([(4, 0, 100)], [(4, 10, 19), (4, 50, 200)]) == [(4, 0, 9), (4, 20, 49)]
    assert addrs.render((4, 0x0A000000, 0x0AFFFFFF)) == "10.0.0.0/8"
    assert addrs.render((4, 0x0A000001, 0x0A000002)) == "10.0.0.1-10.0.0.2"
    assert addrs.tokens([(4, 2, 2), (4, 1, 1), (4, 2, 2)]) == ["0.0.0.1", "0.0.0.2"]
    assert addrs.parse_interval("10.1.2.3/8") == (4, 0x0A000000, 0x0AFFFFFF)
    assert addrs.parse_addr("01.2.3.4") is None
    assert addrs.canonical("fd7a:115c:a1e0:0::1/64") == "fd7a:115c:a1e0::/64"
