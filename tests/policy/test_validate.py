"""validate(): the server's rejection checks, their wording, positions and order.

The table lives in ``tests/golden/lint/validate-cases.json`` (``id``, ``policy``,
``expected`` as ``line:col code: message``); ``TAILCFG_UPDATE_GOLDEN=1`` rewrites it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tailcfg import hujson
from tailcfg.policy.validate.syntax import (
    Kind,
    alias_kind,
    format_go_duration,
    parse_go_duration,
    parse_ports,
    parse_proto,
    split_alias_ports,
)
from tailcfg.policy.validate.validator import tailnet_domains, validate, warnings
from tailcfg.source import Severity

CASES_FILE = Path(__file__).resolve().parent.parent / "golden" / "lint" / "validate-cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"


def found(text: str, **kwargs: Any) -> list[str]:
    doc = hujson.parse(text, "p.hujson")
    return [f"{d.span.line}:{d.span.col} {d.code}: {d.message}" for d in validate(doc, **kwargs)]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_validate_table(case: dict[str, Any]) -> None:
    got = found(case["policy"], domains=["example.com"])
    if UPDATE and got != case["expected"]:
        case["expected"] = got
        CASES_FILE.write_text(json.dumps(CASES, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert got == case["expected"]


def test_every_error_is_an_error_severity() -> None:
    doc = hujson.parse('{"acls": [{"action": "drop", "src": ["tag:x"], "dst": ["*:0"]}]}')
    assert {d.severity for d in validate(doc)} == {Severity.ERROR}


def test_domain_check_needs_users_or_domains() -> None:
    text = '{"ssh": [{"action": "accept", "src": ["user:*@other.org"], "dst": ["autogroup:self"], "users": ["root"]}]}'  # noqa: E501
    assert found(text) == []
    message = (
        "[ssh] other.org is not associated with this Tailnet and cannot be used in "
        "user:*@<domain> expressions"
    )
    assert found(text, users=[{"email": "odin@example.com"}]) == [f"1:39 domain: {message}"]
    assert found(text, users=["odin@example.com", "x@other.org"]) == [f"1:39 domain: {message}"]
    assert found(text, domains=["other.org"]) == []


@pytest.mark.parametrize(
    ("users", "domains"),
    [
        ([{"id": 1, "email": "odin@example.com"}, {"email": "thor@example.org"}], {"example.com"}),
        (["freya@example.net"], {"example.net"}),
        ([{"email": ""}, "a@b.c"], {"b.c"}),
        ([], set()),
    ],
)
def test_tailnet_domains(users: list[Any], domains: set[str]) -> None:
    assert tailnet_domains(users) == frozenset(domains)


WARNINGS_POLICY = """{
  "groups": {"group:used": ["a@example.com"], "group:idle": ["b@example.com"]},
  "hosts": {"nas": "192.168.1.10", "lan": "192.168.1.0/24", "spare": "10.0.0.1"},
  "tagOwners": {
    "tag:server": ["group:used"],
    "tag:owner": [],
    "tag:owned": ["tag:owner"],
    "tag:idle": [],
  },
  "acls": [{"action": "accept", "src": ["group:used"], "dst": ["nas:445", "tag:server:22"]}],
  "tests": [{"src": "a@example.com", "accept": ["lan:80"]}],
}
"""


def test_warnings_name_unused_groups_hosts_and_tags() -> None:
    doc = hujson.parse(WARNINGS_POLICY, "w.hujson")
    assert [d.render() for d in warnings(doc)] == [
        'w.hujson:2:47: warning[unused-group]: group "group:idle" is declared but not used by '
        "any rule",
        'w.hujson:3:61: warning[unused-host]: host "spare" is declared but not used by any rule',
        'w.hujson:7:5: warning[unused-tag]: tag "tag:owned" is declared but not used by any rule',
        'w.hujson:8:5: warning[unused-tag]: tag "tag:idle" is declared but not used by any rule',
    ]
    assert validate(doc) == []


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("-0", 0),
        ("1h", 3600 * 10**9),
        ("1.5h", 5400 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("+5s", 5 * 10**9),
        ("-1m", -60 * 10**9),
        ("300ms", 300_000_000),
        ("2µs", 2_000),
        ("2us", 2_000),
        (".5s", 500_000_000),
        ("1.s", 10**9),
        ("168h0m1s", (168 * 3600 + 1) * 10**9),
    ],
)
def test_parse_go_duration(text: str, nanoseconds: int) -> None:
    assert parse_go_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("abc", 'time: invalid duration "abc"'),
        ("-", 'time: invalid duration "-"'),
        (".s", 'time: invalid duration ".s"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        ("1hé", 'time: unknown unit "h\\xc3\\xa9" in duration "1h\\xc3\\xa9"'),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
    ],
)
def test_parse_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_go_duration(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (30 * 10**9, "30s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (200 * 3600 * 10**9, "200h0m0s"),
        (-60 * 10**9, "-1m0s"),
        ((168 * 3600 + 1) * 10**9, "168h0m1s"),
        (1_500_000_000, "1.5s"),
    ],
)
def test_format_go_duration(nanoseconds: int, text: str) -> None:
    assert format_go_duration(nanoseconds) == text


@pytest.mark.parametrize(
    ("spec", "ranges"),
    [
        ("*", [(0, 65535)]),
        ("22", [(22, 22)]),
        ("80,443", [(80, 80), (443, 443)]),
        ("8000-8100", [(8000, 8100)]),
        ("1-65535", [(1, 65535)]),
    ],
)
def test_parse_ports(spec: str, ranges: list[tuple[int, int]]) -> None:
    assert parse_ports(spec) == ranges


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ssh", "invalid first integer"),
        ("", "invalid first integer"),
        ("0", "first port must be >0, or use '*'"),
        ("22-", "invalid last integer"),
        ("443-80", "invalid port range: first port 443 is greater than last 80"),
        ("65536", "invalid first integer"),
        ("22,", "invalid first integer"),
    ],
)
def test_parse_ports_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_ports(spec)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("dst", "parts"),
    [
        ("tag:server:22", ("tag:server", "22")),
        ("autogroup:self", ("autogroup", "self")),
        ("[fd7a::1]:80", ("fd7a::1", "80")),
        ("fd7a::1:80", ("fd7a::1", "80")),
        ("*:*", ("*", "*")),
    ],
)
def test_split_alias_ports(dst: str, parts: tuple[str, str]) -> None:
    assert split_alias_ports(dst) == parts


@pytest.mark.parametrize(
    ("text", "number"),
    [("tcp", 6), ("UDP", 17), ("icmp", 1), ("6", 6), ("255", 255), ("ipv6-icmp", 58)],
)
def test_parse_proto(text: str, number: int) -> None:
    assert parse_proto(text) == number


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("*", 'proto name "*" not known; use protocol number 0-255 or protocol name (icmp, '),
        ("bogus", 'proto name "bogus" not known; use protocol number 0-255 or protocol name ('),
        ("", 'proto name "" not known; use protocol number 0-255 or protocol name (icmp, tcp,'),
        ("0", 'leading 0 not permitted in protocol number: "0"'),
        ("06", 'leading 0 not permitted in protocol number: "06"'),
        ("256", "protocol number out of range (0-255): 256"),
    ],
)
def test_parse_proto_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_proto(text)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("alias", "kind"),
    [
        ("*", Kind.WILDCARD),
        ("100.64.0.1", Kind.IP),
        ("10.0.0.0/8", Kind.IP),
        ("fd7a:115c:a1e0::1", Kind.IP),
        ("100.64.0.1-100.64.0.9", Kind.IP),
        ("user:*@example.com", Kind.DOMAIN_USERS),
        ("odin@example.com", Kind.USER),
        ("group:admins", Kind.GROUP),
        ("tag:server", Kind.TAG),
        ("autogroup:member", Kind.AUTOGROUP),
        ("ipset:office", Kind.IPSET),
        ("webserver", Kind.HOST),
        ("weird:thing", Kind.INVALID),
        ("", Kind.INVALID),
    ],
)
def test_alias_kind(alias: str, kind: Kind) -> None:
    assert alias_kind(alias) is kind


SECTIONS = [
    "acls",
    "grants",
    "groups",
    "hosts",
    "tagOwners",
    "autoApprovers",
    "ssh",
    "nodeAttrs",
    "postures",
    "ipsets",
    "tests",
    "sshTests",
    "defaultSrcPosture",
    "derpMap",
]
KEYS = [
    *SECTIONS,
    "action",
    "src",
    "dst",
    "users",
    "ports",
    "proto",
    "ip",
    "app",
    "via",
    "srcPosture",
    "checkPeriod",
    "acceptEnv",
    "target",
    "attr",
    "ipPool",
    "routes",
    "exitNode",
    "accept",
    "deny",
    "check",
    "group:a",
    "tag:a",
    "h",
    "posture:a",
    "ipset:a",
    "tailscale.com/cap/x",
]
STRINGS = st.sampled_from(
    [
        "*",
        "*:*",
        "tag:a",
        "tag:a:22",
        "group:a",
        "h",
        "h:80",
        "autogroup:self",
        "autogroup:self:*",
        "autogroup:internet",
        "user:*@x.org",
        "localpart:*@X",
        "a@x.org",
        "10.0.0.0/8",
        "0.0.0.0/0",
        "::/0",
        "[fd7a::1]:22",
        "tcp:22",
        "icmp",
        "1h",
        "-1m",
        "always",
        "accept",
        "check",
        "",
        " ",
        "100.100.100.0/24",
        "ipset:a",
        "posture:a",
        "a:b:c",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | STRINGS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=120, deadline=None)
@given(policy=st.dictionaries(st.sampled_from(SECTIONS), JSON, max_size=6))
def test_validate_never_raises_on_any_shape(policy: dict[str, Any]) -> None:
    doc = hujson.parse(json.dumps(policy), "fuzz.hujson")
    for diag in [*validate(doc, domains=["x.org"]), *warnings(doc)]:
        assert diag.message and diag.code and diag.span.line >= 1
