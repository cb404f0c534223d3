"""Tailscale wire-shape packet filters: which rule admits (src, dst, proto, port)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcfg.node import packets
from tailcfg.node.filter import FilterError, IPSet, PacketFilter

TCP, UDP, ICMP, ICMPV6, SCTP, GRE = 6, 17, 1, 58, 132, 47


def ports(ip: str, first: int = 0, last: int = 65535) -> dict[str, Any]:
    return {"IP": ip, "Ports": {"First": first, "Last": last}}


RULES: list[dict[str, Any]] = [
    # 0: the admins reach ssh on the servers
    {"SrcIPs": ["100.64.0.1", "fd7a:115c:a1e0::1"], "DstPorts": [ports("100.64.1.0/24", 22, 22)]},
    # 1: a range of sources reaches the web ports of one host, TCP only
    {
        "SrcIPs": ["100.64.0.10-100.64.0.20"],
        "DstPorts": [ports("100.64.1.5", 80, 80), ports("100.64.1.5", 443, 443)],
        "IPProto": [TCP],
    },
    # 2: a capability grant: no DstPorts, admits nothing
    {"SrcIPs": ["*"], "CapGrant": [{"Dsts": ["100.64.1.0/24"], "CapMap": {"x": []}}]},
    # 3: everyone reaches DNS over UDP on a range of destinations
    {"SrcIPs": ["*"], "DstPorts": [ports("100.64.2.1-100.64.2.3", 53, 53)], "IPProto": [UDP]},
    # 4: v6 monitoring reaches everything on the v6 /48, default protocols
    {"SrcIPs": ["fd7a:115c:a1e0::99/128"], "DstPorts": [ports("fd7a:115c:a1e0::/48")]},
    # 5: GRE between two hosts: a portless protocol needs the whole port range
    {"SrcIPs": ["100.64.3.1"], "DstPorts": [ports("100.64.3.2")], "IPProto": [GRE]},
    # 6: GRE with a port range is never matched (tailscaled: all ports only)
    {"SrcIPs": ["100.64.3.1"], "DstPorts": [ports("100.64.3.3", 0, 0)], "IPProto": [GRE]},
    # 7: a peer-capability source matches no address here
    {"SrcIPs": ["cap:tailscale.com/cap/x"], "DstPorts": [ports("100.64.4.1")]},
]

CASES = [
    # (src, dst, proto, port, rule that admits or None)
    ("100.64.0.1", "100.64.1.7", TCP, 22, 0),
    ("100.64.0.1", "100.64.1.7", UDP, 22, 0),  # default protocols include UDP
    ("100.64.0.1", "100.64.1.7", TCP, 23, None),
    ("100.64.0.1", "100.64.1.7", ICMP, 0, 0),  # ICMP ignores ports
    ("100.64.0.1", "100.64.1.7", SCTP, 22, None),  # SCTP is not a default protocol
    ("100.64.0.2", "100.64.1.7", TCP, 22, None),
    ("100.64.0.1", "100.64.2.7", TCP, 22, None),
    ("100.64.0.10", "100.64.1.5", TCP, 443, 1),
    ("100.64.0.20", "100.64.1.5", TCP, 80, 1),
    ("100.64.0.21", "100.64.1.5", TCP, 80, None),
    ("100.64.0.15", "100.64.1.5", UDP, 443, None),
    ("100.64.0.15", "100.64.1.5", ICMP, 0, 1),  # any open port lets ICMP in (tailscaled)
    ("100.64.0.15", "100.64.1.6", ICMP, 0, None),
    ("100.64.9.9", "100.64.1.1", TCP, 22, None),  # the CapGrant rule admits nothing
    ("100.64.9.9", "100.64.2.2", UDP, 53, 3),
    ("fd7a:115c:a1e0::5", "100.64.2.3", UDP, 53, None),  # v6 source, v4 destination
    ("100.64.9.9", "100.64.2.4", UDP, 53, None),
    ("fd7a:115c:a1e0::99", "fd7a:115c:a1e0::5", TCP, 8080, 4),
    ("fd7a:115c:a1e0::99", "fd7a:115c:a1e0::5", ICMPV6, 0, 4),
    ("fd7a:115c:a1e0::99", "fd7a:115c:a1e1::5", ICMPV6, 0, None),
    ("fd7a:115c:a1e0::1", "fd7a:115c:a1e0::5", TCP, 22, None),
    ("100.64.3.1", "100.64.3.2", GRE, 0, 5),
    ("100.64.3.1", "100.64.3.2", TCP, 0, None),
    ("100.64.3.1", "100.64.3.3", GRE, 0, None),
    ("100.64.3.1", "100.64.3.3", ICMP, 0, 6),  # ...but it opens the IPs to ICMP
    ("100.64.9.9", "100.64.4.1", TCP, 80, None),
    ("100.64.9.9", "100.64.1.1", ICMP, 0, None),  # CapGrant opens nothing, not even ICMP
]


@pytest.mark.parametrize(("src", "dst", "proto", "port", "rule"), CASES)
def test_filter_matching_table(src: str, dst: str, proto: int, port: int, rule: int | None) -> None:
    pf = PacketFilter(RULES)
    addr = ipaddress.ip_address
    assert pf.match(addr(src), addr(dst), proto, port) == rule


def test_default_deny() -> None:
    pf = PacketFilter([])
    syn = packets.parse(packets.tcp("100.64.0.1", "100.64.0.2", 1, 22, packets.SYN))
    assert (pf.check_in(syn).allowed, pf.check_in(syn).reason) == (False, "no rule matched")


def test_check_in_is_stateful_for_return_traffic_like_tailscaled() -> None:
    pf = PacketFilter([])
    a, b = "100.64.0.1", "100.64.0.2"
    synack = packets.parse(packets.tcp(b, a, 22, 40000, packets.SYN | packets.ACK))
    echo_reply = packets.parse(packets.icmp_echo(b, a, 1, 1, reply=True))
    echo_request = packets.parse(packets.icmp_echo(b, a, 1, 1))
    udp_reply = packets.parse(packets.udp(b, a, 53, 40000, b"answer"))
    verdicts = [pf.check_in(p) for p in (synack, echo_reply, echo_request, udp_reply)]
    assert [(v.allowed, v.reason) for v in verdicts] == [
        (True, "tcp non-syn"),
        (True, "icmp response ok"),
        (False, "no rule matched"),
        (False, "no rule matched"),
    ]
    pf.note_out(packets.parse(packets.udp(a, b, 40000, 53, b"query")))
    assert (pf.check_in(udp_reply).allowed, pf.check_in(udp_reply).reason) == (True, "udp cached")


def test_rule_index_is_reported() -> None:
    pf = PacketFilter(RULES)
    syn = packets.parse(packets.tcp("100.64.0.12", "100.64.1.5", 1, 443, packets.SYN))
    verdict = pf.check_in(syn)
    assert (verdict.allowed, verdict.rule, verdict.reason) == (True, 1, "rule 1")


def test_ipset_merges_intervals() -> None:
    ips = IPSet.parse(["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0-10.0.1.9", "::1"])
    addr = ipaddress.ip_address
    inside = ["10.0.0.0", "10.0.0.255", "10.0.1.9", "::1"]
    outside = ["10.0.1.10", "9.255.255.255", "::2", "0.0.0.1"]
    assert [addr(a) in ips for a in inside + outside] == [True] * 4 + [False] * 4


@pytest.mark.parametrize("bad", ["100.64.0.300", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "host"])
def test_bad_entries_raise_filter_error(bad: str) -> None:
    with pytest.raises(FilterError, match="is not an IP, CIDR, range or"):
        PacketFilter([{"SrcIPs": [bad], "DstPorts": [ports("*")]}])


ADDRS = [f"10.0.0.{i}" for i in range(8)] + [f"fd00::{i}" for i in range(4)]
entries = st.sampled_from(
    ["*", "10.0.0.0/30", "10.0.0.4/31", "10.0.0.2-10.0.0.5", "fd00::/126", *ADDRS]
)
rules_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "SrcIPs": st.lists(entries, min_size=1, max_size=3),
            "DstPorts": st.lists(
                st.builds(ports, entries, st.integers(0, 3), st.integers(0, 3)), max_size=3
            ),
        },
        optional={"IPProto": st.lists(st.sampled_from([TCP, UDP, ICMP, GRE]), max_size=2)},
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    rules=rules_strategy,
    src=st.sampled_from(ADDRS),
    dst=st.sampled_from(ADDRS),
    proto=st.sampled_from([TCP, UDP, ICMP, GRE]),
    port=st.integers(0, 3),
)
def test_indexed_match_equals_a_linear_scan(
    rules: list[dict[str, Any]], src: str, dst: str, proto: int, port: int
) -> None:
    pf = PacketFilter(rules)
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    linear = next(
        (r.index for r in pf.rules if s.version == d.version and r.admits(s, d, proto, port)),
        None,
    )
    assert pf.match(s, d, proto, port) == linear
