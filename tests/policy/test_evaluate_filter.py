"""filter_match (wire-shape packet filters and SSH policies) and spec (test syntax)."""

from __future__ import annotations

from typing import Any

import pytest

from tailcfg.policy.evaluate.filter_match import (
    DEFAULT_PROTOS,
    DeviceIndex,
    IntervalSet,
    PacketFilter,
    SshMatcher,
    login_allowed,
    parse_addr,
    parse_range,
)
from tailcfg.policy.evaluate.spec import (
    Alias,
    Dst,
    Kind,
    Names,
    check_dst,
    check_ssh_dst,
    parse_proto,
    ssh_dst_policy_error,
)

FILTER: list[dict[str, Any]] = [
    {
        "SrcIPs": ["100.64.0.1", "fd7a:115c:a1e0::1"],
        "DstPorts": [
            {"IP": "100.64.0.9", "Ports": {"First": 22, "Last": 22}},
            {"IP": "fd7a:115c:a1e0::9", "Ports": {"First": 22, "Last": 22}},
        ],
    },
    {
        "SrcIPs": ["100.64.0.0-100.115.91.255"],
        "DstPorts": [{"IP": "100.64.0.9", "Ports": {"First": 53, "Last": 53}}],
        "IPProto": [17],
    },
    {"SrcIPs": ["10.0.0.0/8"], "DstPorts": [{"IP": "*", "Ports": {"First": 0, "Last": 65535}}]},
    {"SrcIPs": ["*"], "CapGrant": [{"Dsts": ["100.64.0.9/32"], "CapMap": {"x.com/cap": [{}]}}]},
]

ULA = 0xFD7A115CA1E0 << 80
TCP = frozenset({6})
UDP = frozenset({17})


@pytest.mark.parametrize(
    ("src", "dst", "port", "protos", "rules"),
    [
        ("100.64.0.1", "100.64.0.9", 22, DEFAULT_PROTOS, [0]),
        ("100.64.0.1", "100.64.0.9", 22, TCP, [0]),
        ("fd7a:115c:a1e0::1", "fd7a:115c:a1e0::9", 22, TCP, [0]),
        ("100.64.0.2", "100.64.0.9", 22, TCP, []),
        ("100.64.0.1", "100.64.0.9", 23, TCP, []),
        ("100.64.0.1", "100.64.0.9", 53, UDP, [1]),
        ("100.64.0.1", "100.64.0.9", 53, TCP, []),
        ("100.115.92.1", "100.64.0.9", 53, UDP, []),
        ("10.1.2.3", "192.168.0.1", 8080, TCP, [2]),
        ("10.1.2.3", "192.168.0.1", 8080, frozenset({132}), []),
        ("10.1.2.3", "100.64.0.9", 22, TCP, [2]),
    ],
)
def test_packet_filter_matching(
    src: str, dst: str, port: int, protos: frozenset[int], rules: list[int]
) -> None:
    pf = PacketFilter(FILTER)
    s, d = parse_addr(src), parse_addr(dst)
    assert pf.matching_rules(s, d, port, protos) == rules
    assert pf.admits(s, d, port, protos) is bool(rules)
    assert (s in pf.sources(d, port, protos)) is bool(rules)


def test_default_protocols_exclude_sctp() -> None:
    pf = PacketFilter(FILTER)
    one, nine = parse_addr("100.64.0.1"), parse_addr("100.64.0.9")
    assert pf.admits(one, nine, 22, frozenset({132})) is False
    assert pf.admits(one, nine, 22, frozenset({58})) is True


def test_device_masks() -> None:
    devices = [
        (parse_addr("100.64.0.1"), parse_addr("fd7a:115c:a1e0::1")),
        (parse_addr("100.64.0.2"), parse_addr("fd7a:115c:a1e0::2")),
        (parse_addr("10.0.0.5"),),
    ]
    index = DeviceIndex(devices)
    pf = PacketFilter(FILTER)
    nine4, nine6 = parse_addr("100.64.0.9"), parse_addr("fd7a:115c:a1e0::9")
    assert pf.admitted_devices(nine4, 22, TCP, index) == 0b101
    assert pf.admitted_devices(nine6, 22, TCP, index) == 0b001
    assert pf.admitted_devices(nine4, 53, UDP, index) == 0b111
    assert index.mask(IntervalSet(parse_range("100.64.0.0/24")), 4) == 0b011


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("100.64.0.1", ((4, 0x64400001, 0x64400001),)),
        ("100.64.0.0/30", ((4, 0x64400000, 0x64400003),)),
        ("100.64.0.1-100.64.0.3", ((4, 0x64400001, 0x64400003),)),
        (
            "fd7a:115c:a1e0::/48",
            ((6, 0xFD7A115CA1E0 << 80, (0xFD7A115CA1E0 << 80) + (1 << 80) - 1),),
        ),
        ("*", ((4, 0, (1 << 32) - 1), (6, 0, (1 << 128) - 1))),
    ],
)
def test_parse_range(spec: str, want: tuple[tuple[int, int, int], ...]) -> None:
    assert parse_range(spec) == want


def test_interval_set_merges_adjacent() -> None:
    s = IntervalSet([(4, 1, 3), (4, 4, 6), (4, 9, 9), (6, 1, 1)])
    assert list(s.intervals(4)) == [(1, 6), (9, 9)]
    assert [(4, x) in s for x in (0, 1, 6, 7, 9)] == [False, True, True, False, True]
    assert (6, 1) in s and (6, 2) not in s


@pytest.mark.parametrize(
    ("users", "login", "ok"),
    [
        ({"root": "root"}, "root", True),
        ({"root": ""}, "root", False),
        ({"root": "", "*": "="}, "alice", True),
        ({"*": "="}, "root", False),
        ({"alice": "alice"}, "bob", False),
        ({"alice": "alice"}, "", False),
    ],
)
def test_login_allowed(users: dict[str, str], login: str, ok: bool) -> None:
    assert login_allowed(users, login) is ok


def test_ssh_matcher_accept_and_check() -> None:
    check = {"holdAndDelegate": "https://unused/x"}
    accept = {"accept": True}
    rules = [
        {"principals": [{"nodeIP": "100.64.0.1"}], "sshUsers": {"root": "root"}, "action": check},
        {"principals": [{"nodeIP": "100.64.0.1"}], "sshUsers": {"*": "="}, "action": accept},
        {"principals": [{"any": True}], "sshUsers": {"guest": "guest"}, "action": accept},
    ]
    m = SshMatcher(rules)
    one, two = parse_addr("100.64.0.1"), parse_addr("100.64.0.2")
    assert (m.verdict(one, "root").rules, m.verdict(one, "root").check_rules) == ((0,), (0,))
    assert (m.verdict(one, "alice").allowed, m.verdict(one, "alice").checked) == (True, False)
    assert m.verdict(two, "alice").allowed is False
    assert m.verdict(two, "guest").rules == (2,)


NAMES = Names(
    users=frozenset({"a@x.com"}),
    groups={"group:g": ("a@x.com",)},
    tags=frozenset({"tag:t"}),
    hosts={"one": "100.64.0.5", "one32": "100.64.0.6/32", "net": "10.0.0.0/8"},
)
USER = Alias(Kind.USER, "a@x.com")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("tag:t:22", Dst(Alias(Kind.TAG, "tag:t"), 22)),
        ("one:80", Dst(Alias(Kind.HOST, "one"), 80)),
        ("one32:80", Dst(Alias(Kind.HOST, "one32"), 80)),
        ("100.64.0.9:443", Dst(Alias(Kind.IP, "100.64.0.9"), 443)),
        ("[fd7a:115c:a1e0::9]:443", Dst(Alias(Kind.IP, "fd7a:115c:a1e0::9"), 443)),
        ("autogroup:self:22", Dst(Alias(Kind.AUTOGROUP, "autogroup:self"), 22)),
        ("tag:t", "'tag:t': invalid port 't'"),
        ("net:22", "dst 'net' is the network 10.0.0.0/8, not one host"),
        ("100.64.0.9/32:22", "'100.64.0.9/32:22': a test destination is one host, not a network"),
        ("group:g:22", Dst(Alias(Kind.GROUP, "group:g"), 22)),
        ("a@x.com:22", Dst(Alias(Kind.USER, "a@x.com"), 22)),
        ("b@y.com:22", "dst 'b@y.com': not a user"),
        ("group:nope:22", "dst 'group:nope': group not found"),
        ("*:22", "dst '*' is not a single host (use a tag, a host or an IP)"),
        ("22", "'22': expected host:port"),
    ],
)
def test_check_dst(text: str, want: Dst | str) -> None:
    assert check_dst(text, NAMES, USER) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("tag:t", Dst(Alias(Kind.TAG, "tag:t"), 0)),
        ("tag:t:0", Dst(Alias(Kind.TAG, "tag:t"), 0)),
        ("100.64.0.9", Dst(Alias(Kind.IP, "100.64.0.9"), 0)),
        ("[fd7a:115c:a1e0::9]", Dst(Alias(Kind.IP, "fd7a:115c:a1e0::9"), 0)),
        ("one", Dst(Alias(Kind.HOST, "one"), 0)),
        ("tag:t:22", Dst(Alias(Kind.TAG, "tag:t"), 22)),
        ("tag:nope", "'tag:nope': invalid port 'nope'"),
    ],
)
def test_check_dst_of_a_portless_protocol(text: str, want: Dst | str) -> None:
    """ICMP and other protocols without ports: a bare host or host:0 (seen in live policies)."""
    assert check_dst(text, NAMES, USER, portless=True) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (None, DEFAULT_PROTOS),
        ("", DEFAULT_PROTOS),
        ("tcp", TCP),
        ("UDP", UDP),
        ("6", TCP),
        ("icmp", frozenset({1})),
        ("256", "unknown protocol '256'"),
        ("ssh", "unknown protocol 'ssh'"),
    ],
)
def test_parse_proto(text: str | None, want: frozenset[int] | str) -> None:
    assert parse_proto(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("100.64.0.0/24", 'SSH tests dst contains disallowed element "100.64.0.0/24"'),
        ("autogroup:internet", 'SSH tests dst contains disallowed element "autogroup:internet"'),
        ("tag:server:22", 'SSH tests dst contains unknown tag "tag:server:22"'),
        ("tag:server", None),
        ("one", None),
    ],
)
def test_ssh_dst_policy_errors(text: str, want: str | None) -> None:
    assert ssh_dst_policy_error(text) == want


@pytest.mark.parametrize(
    ("text", "src", "want"),
    [
        ("tag:t", USER, Alias(Kind.TAG, "tag:t")),
        ("a@x.com", USER, Alias(Kind.USER, "a@x.com")),
        ("autogroup:self", USER, Alias(Kind.AUTOGROUP, "autogroup:self")),
        (
            "autogroup:self",
            Alias(Kind.TAG, "tag:t"),
            "autogroup:self as an sshTests destination needs a user or group src",
        ),
        ("fd7a::1", USER, "dst 'fd7a::1': IPv6 addresses are not valid sshTests destinations"),
        ("tag:nope", USER, 'SSH tests dst contains unknown tag "tag:nope"'),
    ],
)
def test_check_ssh_dst(text: str, src: Alias, want: Alias | str) -> None:
    assert check_ssh_dst(text, NAMES, src) == want
