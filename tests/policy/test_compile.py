"""Per-device compile: packet filters, SSH policies and peers, whole values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from enginecases import ALL, BASE, NODES, USERS, WILDCARD_SRC, ports

from tailcfg.policy.compile.compiled import CompiledPolicy
from tailcfg.policy.compile.engine import compile_policy, load_policy

ODIN = ["100.64.0.1", "100.64.0.2", "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2"]
WEB = ("100.64.0.10", "fd7a:115c:a1e0::a")
DB = ("100.64.0.11", "fd7a:115c:a1e0::b")
ACCEPT = {
    "accept": True,
    "allowAgentForwarding": True,
    "allowLocalPortForwarding": True,
    "allowRemotePortForwarding": True,
}


def compiled(**sections: Any) -> CompiledPolicy:
    policy = load_policy(json.dumps({**BASE, **sections}), users=USERS)
    return compile_policy(policy, NODES)


def filters(c: CompiledPolicy) -> dict[str, list[dict[str, Any]]]:
    return {name: n.packet_filter for name, n in c.nodes.items() if n.packet_filter}


def dst(ips: tuple[str, ...], *port_list: int) -> list[dict[str, Any]]:
    """DstPorts of one ACL destination: by address, then port."""
    return [{"IP": ip, "Ports": ports(p)} for ip in ips for p in port_list]


def test_acls_with_equal_sources_merge_in_rule_order() -> None:
    c = compiled(
        acls=[
            {"action": "accept", "src": ["group:admins"], "dst": ["tag:db:22"]},
            {"action": "accept", "src": ["group:admins"], "dst": ["tag:db:80,443"]},
        ]
    )
    assert filters(c) == {
        "db": [{"SrcIPs": ODIN, "DstPorts": dst(DB, 22) + dst(DB, 80, 443)}],
    }


def test_grants_come_before_acls_and_keep_their_protocol() -> None:
    c = compiled(
        acls=[{"action": "accept", "src": ["freya@example.com"], "dst": ["tag:db:5432"]}],
        grants=[{"src": ["group:admins"], "dst": ["tag:db"], "ip": ["udp:53", "icmp:*"]}],
    )
    assert filters(c) == {
        "db": [
            {"SrcIPs": ODIN, "DstPorts": dst(DB, 53), "IPProto": [17]},
            {"SrcIPs": ODIN, "DstPorts": [{"IP": ip, "Ports": ALL} for ip in DB], "IPProto": [1]},
            {
                "SrcIPs": ["100.64.0.3", "fd7a:115c:a1e0::3"],
                "DstPorts": dst(DB, 5432),
            },
        ]
    }


def test_autogroup_self_is_per_owner() -> None:
    c = compiled(
        acls=[{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:22"]}]
    )
    assert filters(c) == {
        "laptop": [{"SrcIPs": ODIN, "DstPorts": dst(("100.64.0.1", "fd7a:115c:a1e0::1"), 22)}],
        "phone": [{"SrcIPs": ODIN, "DstPorts": dst(("100.64.0.2", "fd7a:115c:a1e0::2"), 22)}],
        "tablet": [
            {
                "SrcIPs": ["100.64.0.3", "fd7a:115c:a1e0::3"],
                "DstPorts": dst(("100.64.0.3", "fd7a:115c:a1e0::3"), 22),
            }
        ],
    }
    assert c.nodes["laptop"].peers == ["phone"]
    assert c.nodes["tablet"].peers == []


def test_internet_goes_to_approved_exit_nodes_only() -> None:
    c = compiled(
        acls=[
            {
                "action": "accept",
                "src": ["freya@example.com"],
                "dst": ["autogroup:internet:443"],
            }
        ]
    )
    internet = compile_policy(load_policy(json.dumps({**BASE, "acls": []})), NODES)
    assert filters(internet) == {}
    got = filters(c)
    assert list(got) == ["exit"]
    assert [d["IP"] for d in got["exit"][0]["DstPorts"]] == [
        "0.0.0.0-9.255.255.255",
        "11.0.0.0-100.63.255.255",
        "100.128.0.0-169.253.255.255",
        "169.255.0.0-172.15.255.255",
        "172.32.0.0-192.167.255.255",
        "192.169.0.0-255.255.255.255",
        "2000::-3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    assert c.nodes["tablet"].peers == ["exit"]


def test_subnet_destinations_reach_the_router() -> None:
    c = compiled(acls=[{"action": "accept", "src": ["*"], "dst": ["lan:445"]}])
    assert filters(c) == {
        "router": [
            {
                "SrcIPs": [*WILDCARD_SRC, "10.1.0.0/16"],
                "DstPorts": [{"IP": "10.1.2.0/24", "Ports": ports(445)}],
            }
        ]
    }


def test_no_acls_and_no_grants_allows_everything() -> None:
    policy = load_policy(json.dumps({"tagOwners": BASE["tagOwners"]}))
    c = compile_policy(policy, NODES)
    allow = [{"SrcIPs": [*WILDCARD_SRC, "10.1.0.0/16"], "DstPorts": [{"IP": "*", "Ports": ALL}]}]
    assert {n.packet_filter == allow for n in c.nodes.values()} == {True}
    assert c.nodes["web"].peers == ["db", "exit", "laptop", "phone", "router", "tablet"]


def test_empty_acls_allow_nothing() -> None:
    c = compiled(acls=[])
    assert filters(c) == {}
    assert {tuple(n.peers) for n in c.nodes.values()} == {()}


def test_app_grants_become_capgrants_on_the_destination() -> None:
    c = compiled(
        grants=[
            {"src": ["group:admins"], "dst": ["tag:db"], "app": {"example.com/cap/x": [{"a": 1}]}}
        ]
    )
    assert filters(c) == {
        "db": [
            {
                "SrcIPs": ODIN,
                "CapGrant": [
                    {
                        "Dsts": ["100.64.0.11/32", "fd7a:115c:a1e0::b/128"],
                        "CapMap": {"example.com/cap/x": [{"a": 1}]},
                    }
                ],
            }
        ]
    }


def test_via_grants_land_on_the_via_router() -> None:
    c = compiled(
        grants=[
            {
                "src": ["group:admins"],
                "dst": ["10.1.5.0/24"],
                "ip": ["tcp:22"],
                "via": ["tag:router"],
            }
        ]
    )
    assert filters(c) == {
        "router": [
            {
                "SrcIPs": ODIN,
                "DstPorts": [{"IP": "10.1.5.0/24", "Ports": ports(22)}],
                "IPProto": [6],
            }
        ]
    }


def test_ssh_rules_check_first_then_accept() -> None:
    c = compiled(
        acls=[],
        ssh=[
            {"action": "accept", "src": ["group:admins"], "dst": ["tag:db"], "users": ["root"]},
            {
                "action": "check",
                "src": ["freya@example.com"],
                "dst": ["tag:db"],
                "users": ["autogroup:nonroot"],
            },
        ],
    )
    assert c.nodes["db"].ssh_policy == {
        "rules": [
            {
                "principals": [{"nodeIP": "100.64.0.3"}, {"nodeIP": "fd7a:115c:a1e0::3"}],
                "sshUsers": {"*": "=", "root": ""},
                "action": {
                    "holdAndDelegate": "https://unused/machine/ssh/action/$SRC_NODE_ID/to/"
                    "$DST_NODE_ID?local_user=$LOCAL_USER"
                },
            },
            {
                "principals": [{"nodeIP": ip} for ip in ODIN],
                "sshUsers": {"root": "root"},
                "action": ACCEPT,
            },
        ]
    }
    assert c.nodes["web"].ssh_policy == {"rules": []}


def test_ssh_self_and_localpart() -> None:
    c = compiled(
        acls=[],
        ssh=[
            {
                "action": "accept",
                "src": ["autogroup:member"],
                "dst": ["autogroup:self"],
                "users": ["localpart:*@example.com"],
            }
        ],
    )
    laptop_rules = c.nodes["laptop"].ssh_policy["rules"]
    assert laptop_rules == [
        {"principals": [{"nodeIP": ip} for ip in ODIN], "sshUsers": {"root": ""}, "action": ACCEPT},
        {
            "principals": [{"nodeIP": ip} for ip in ODIN],
            "sshUsers": {"odin": "odin"},
            "action": ACCEPT,
        },
    ]


def test_to_json_shape() -> None:
    c = compiled(acls=[{"action": "accept", "src": ["tag:web"], "dst": ["tag:db:5432"]}])
    out = c.to_json()
    assert list(out) == ["nodes"]
    assert list(out["nodes"]) == [n.name for n in NODES]
    assert out["nodes"]["db"] == {
        "packet_filter": [{"SrcIPs": [WEB[0], DB[0], WEB[1], DB[1]], "DstPorts": dst(DB, 5432)}],
        "ssh_policy": {"rules": []},
        "peers": ["web"],
    }
    assert out["nodes"]["web"]["peers"] == ["db"]


@pytest.mark.parametrize("check_url", ["https://unused", "http://127.0.0.1:8080"])
def test_check_url_is_the_control_servers(check_url: str) -> None:
    policy = load_policy(
        json.dumps(
            {
                **BASE,
                "acls": [],
                "ssh": [
                    {
                        "action": "check",
                        "src": ["group:admins"],
                        "dst": ["tag:db"],
                        "users": ["root"],
                    }
                ],
            }
        )
    )
    rules = compile_policy(policy, NODES, check_url=check_url).nodes["db"].ssh_policy["rules"]
    assert rules[0]["action"]["holdAndDelegate"].startswith(check_url + "/machine/ssh/action/")


def test_subnet_sources_make_their_router_a_peer() -> None:
    c = compiled(acls=[{"action": "accept", "src": ["lan"], "dst": ["tag:db:5432"]}])
    assert c.nodes["db"].peers == ["router"]
    assert c.nodes["router"].peers == ["db"]


def test_app_only_via_grants_pair_sources_with_the_router() -> None:
    c = compiled(
        grants=[
            {
                "src": ["freya@example.com"],
                "dst": ["10.1.0.0/16"],
                "app": {"example.com/cap/x": [{}]},
                "via": ["tag:router"],
            }
        ]
    )
    assert filters(c) == {}
    assert c.nodes["tablet"].peers == ["router"]
    assert c.nodes["router"].peers == ["tablet"]


def test_danger_all_source_is_star_and_star_destination_stays_star() -> None:
    c = compiled(acls=[{"action": "accept", "src": ["autogroup:danger-all"], "dst": ["*:80"]}])
    rule = {"SrcIPs": ["*"], "DstPorts": [{"IP": "*", "Ports": ports(80)}]}
    assert filters(c) == {n.name: [rule] for n in NODES}
