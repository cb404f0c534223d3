"""The one parser of ports, protocols and destinations (``tailcfg.policy.model.ports``).

The engine's entry points (``parse_dst``, ``parse_ip_spec``, ``parse_proto``) give whole
values, and their errors are word for word what the validator reports for the same
string (the validator's own parsers are tested in ``test_validate.py``).
"""

from __future__ import annotations

import json

import pytest

from tailcfg import hujson
from tailcfg.policy.model.ports import (
    ALL_PORTS,
    DstSpec,
    IpSpec,
    PortError,
    parse_dst,
    parse_ip_spec,
    parse_proto,
    split_dst,
)
from tailcfg.policy.validate.validator import validate


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("tag:a:22,80", DstSpec("tag:a", ((22, 22), (80, 80)))),
        ("*:*", DstSpec("*", ALL_PORTS)),
        ("10.0.0.0/8:1000-2000", DstSpec("10.0.0.0/8", ((1000, 2000),))),
        (" [fd7a::1]:80 ", DstSpec("fd7a::1", ((80, 80),))),
        ("fd7a::1:80", DstSpec("fd7a::1", ((80, 80),))),
        ("autogroup:self:22-22", DstSpec("autogroup:self", ((22, 22),))),
    ],
)
def test_parse_dst(text: str, spec: DstSpec) -> None:
    assert parse_dst(text) == spec


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("*", IpSpec((), ALL_PORTS)),
        ("tcp:22", IpSpec((6,), ((22, 22),))),
        ("udp:*", IpSpec((17,), ALL_PORTS)),
        ("80,443", IpSpec((), ((80, 80), (443, 443)))),
        (" icmp:* ", IpSpec((1,), ALL_PORTS)),
        ("132:9000-9100", IpSpec((132,), ((9000, 9100),))),
        ("*:22", IpSpec((), ((22, 22),))),  # the engine reads a `*` protocol as the default
    ],
)
def test_parse_ip_spec(text: str, spec: IpSpec) -> None:
    assert parse_ip_spec(text) == spec


@pytest.mark.parametrize(
    ("text", "protos"),
    [("", ()), ("*", ()), ("TCP", (6,)), (" 17 ", (17,)), ("ipv6-icmp", (58,))],
)
def test_parse_proto(text: str, protos: tuple[int, ...]) -> None:
    assert parse_proto(text) == protos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("06", 'leading 0 not permitted in protocol number: "06"'),
        ("0", 'leading 0 not permitted in protocol number: "0"'),
        ("256", "protocol number out of range (0-255): 256"),
        (
            "bogus",
            'proto name "bogus" not known; use protocol number 0-255 or protocol name '
            "(icmp, tcp, udp, etc.)",
        ),
    ],
)
def test_parse_proto_errors(text: str, message: str) -> None:
    with pytest.raises(PortError) as info:
        parse_proto(text)
    assert str(info.value) == message


def _validator_messages(doc: dict[str, object]) -> list[str]:
    return [d.message for d in validate(hujson.parse(json.dumps(doc), "p.hujson"))]


@pytest.mark.parametrize(
    ("dst", "message"),
    [
        ("tag:a:ssh", 'dst="tag:a:ssh": port range "ssh": invalid first integer'),
        ("tag:a:0", 'dst="tag:a:0": port range "0": first port must be >0, or use \'*\''),
        (
            "tag:a:90-80",
            'dst="tag:a:90-80": port range "90-80": invalid port range: first port 90 is '
            "greater than last 80",
        ),
        ("tag:a:22-", 'dst="tag:a:22-": port range "22-": invalid last integer'),
        ("tag:a:70000", 'dst="tag:a:70000": port range "70000": invalid first integer'),
        ("tag:a:\u0663", 'dst="tag:a:\u0663": port range "\u0663": invalid first integer'),
        ("*", 'dst="*": missing port: use alias:port, alias:* or alias:first-last'),
    ],
)
def test_dst_errors_are_the_validators(dst: str, message: str) -> None:
    with pytest.raises(PortError) as info:
        parse_dst(dst)
    assert str(info.value) == message
    acl = {"action": "accept", "src": ["*"], "dst": [dst]}
    assert _validator_messages({"acls": [acl]}) == [message]


def test_split_dst_error_is_the_validators() -> None:
    with pytest.raises(PortError) as info:
        split_dst("host")
    assert (
        str(info.value) == 'dst="host": missing port: use alias:port, alias:* or alias:first-last'
    )


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("a:b:c", "expected only one colon in Internet protocol and port type, got: a:b:c"),
        ("tcp:0", "port range \"0\": first port must be >0, or use '*'"),
        ("icmp", 'port range "icmp": invalid first integer'),
        (
            "tcp:443-80",
            'port range "443-80": invalid port range: first port 443 is greater than last 80',
        ),
        ("06:22", 'leading 0 not permitted in protocol number: "06"'),
    ],
)
def test_ip_errors_are_the_validators(ip: str, message: str) -> None:
    with pytest.raises(PortError) as info:
        parse_ip_spec(ip)
    assert str(info.value) == message
    grant = {"src": ["*"], "dst": ["*"], "ip": [ip]}
    assert _validator_messages({"grants": [grant]}) == [message]
