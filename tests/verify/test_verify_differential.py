"""tailcfg.verify.differential: equal / equivalent / differs, on filters as Headscale and
Tailscale spell them (cases taken from real runs against Headscale 0.29.2)."""

from __future__ import annotations

from typing import Any

from tailcfg.verify.differential import compare_filters, compare_ssh

ALL = {"First": 0, "Last": 65535}
ADDRS = ["100.64.0.9", "100.64.0.10", "100.64.0.11", "fd7a:115c:a1e0::9", "fd7a:115c:a1e0::a"]


def rule(srcs: list[str], *dsts: tuple[str, int, int]) -> dict[str, Any]:
    ports = [{"IP": ip, "Ports": {"First": a, "Last": b}} for ip, a, b in dsts]
    return {"SrcIPs": srcs, "DstPorts": ports}


def test_same_rules_in_another_order_inside_a_rule_are_equal() -> None:
    a = [rule(["100.64.0.9", "100.64.0.11"], ("100.64.0.10", 22, 22))]
    b = [rule(["100.64.0.11", "100.64.0.9"], ("100.64.0.10", 22, 22))]
    got = compare_filters(a, b, ADDRS)
    assert (got.equal, got.equivalent, got.only_engine, got.only_peer) == (True, True, (), ())


def test_adjacent_addresses_as_a_range_are_equivalent() -> None:
    a = [rule(["100.64.0.9", "100.64.0.10"], ("100.64.0.11", 22, 22))]
    b = [rule(["100.64.0.9-100.64.0.10"], ("100.64.0.11", 22, 22))]
    got = compare_filters(a, b, ADDRS)
    assert (got.equal, got.equivalent) == (False, True)
    assert got.first_difference.startswith("rule 0: engine ")


def test_ranges_and_prefixes_of_the_same_set_are_equivalent() -> None:
    a = [rule(["100.64.0.9"], ("0.0.0.0-9.255.255.255", 0, 65535))]
    b = [rule(["100.64.0.9"], ("0.0.0.0/5", 0, 65535), ("8.0.0.0/7", 0, 65535))]
    assert compare_filters(a, b, ADDRS).equivalent is True


def test_a_missing_port_differs_and_names_the_packet() -> None:
    a = [rule(["100.64.0.9"], ("100.64.0.10", 80, 90))]
    b = [rule(["100.64.0.9"], ("100.64.0.10", 80, 89))]
    got = compare_filters(a, b, ADDRS, ["100.64.0.10"])
    assert got.equivalent is False
    assert got.only_engine == (
        "100.64.0.9 -> 100.64.0.10:90 proto 1",
        "100.64.0.9 -> 100.64.0.10:90 proto 6",
        "100.64.0.9 -> 100.64.0.10:90 proto 17",
        "100.64.0.9 -> 100.64.0.10:90 proto 58",
    )
    assert got.only_peer == ()


def test_other_devices_addresses_in_a_nodes_filter_are_not_compared() -> None:
    mine = [rule(["100.64.0.9"], ("100.64.0.10", 0, 65535))]
    headscale = [rule(["100.64.0.9"], ("100.64.0.10/31", 0, 65535))]  # also .11 (another node)
    assert compare_filters(mine, headscale, ADDRS).equivalent is False
    assert compare_filters(mine, headscale, ADDRS, ["100.64.0.10"]).equivalent is True


def test_ssh_check_url_is_equivalent_and_a_different_action_differs() -> None:
    def policy(action: dict[str, Any]) -> dict[str, Any]:
        principals = [{"nodeIP": "100.64.0.9"}]
        return {"rules": [{"principals": principals, "sshUsers": {"odin": "="}, "action": action}]}

    engine = policy({"holdAndDelegate": "https://unused/machine/ssh/action/x"})
    headscale = policy({"holdAndDelegate": "http://198.51.100.1:8080/machine/ssh/action/x"})
    sources = {"laptop": ["100.64.0.9"]}
    got = compare_ssh(engine, headscale, sources, ["odin", "root"])
    assert (got.equal, got.equivalent, got.differences) == (False, True, ())
    got = compare_ssh(engine, policy({"accept": True}), sources, ["odin", "root"])
    assert got.differences == ("laptop as odin: engine check, peer accept",)
