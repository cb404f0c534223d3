"""run_tests: verdicts, reasons and positions of tests/sshTests on a small tailnet."""

from __future__ import annotations

from typing import Any

import pytest
from evalcases import load, nodes

from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.evaluate.verdicts import Outcome, RuleRef, TestReport

ACL0 = "policy.hujson:7 (acls[0])"
ACL1 = "policy.hujson:8 (acls[1])"
ACL2 = "policy.hujson:9 (acls[2])"
GRANT0 = "policy.hujson:13 (grants[0])"
SSH0 = "policy.hujson:16 (ssh[0])"
SSH1 = "policy.hujson:18 (ssh[1])"

# (test entry, [(passed, reason)]) -- identical without and with the topology.
AGREEING: list[tuple[dict[str, Any], list[tuple[bool, str]]]] = [
    (
        {"src": "alice@example.com", "accept": ["tag:prod:22"]},
        [(True, f"alice@example.com -> tag:prod:22: accepted by {ACL0}")],
    ),
    (
        {"src": "bob@example.com", "accept": ["tag:prod:80"]},
        [(False, "bob@example.com -> tag:prod:80: expected accept, denied: no rule matches")],
    ),
    (
        {"src": "tag:prod", "proto": "udp", "accept": ["tag:db:5432"]},
        [(False, "tag:prod -> tag:db:5432: expected accept, denied: no rule matches")],
    ),
    (
        {"src": "tag:prod", "proto": "6", "accept": ["tag:db:5432"]},
        [(True, f"tag:prod -> tag:db:5432: accepted by {ACL1}")],
    ),
    (
        {"src": "bob@example.com", "deny": ["tag:prod:22"]},
        [(False, f"bob@example.com -> tag:prod:22: expected deny, accepted by {ACL0}")],
    ),
    (
        {"src": "alice@example.com", "accept": ["nas:445", "web:80"]},
        [
            (True, f"alice@example.com -> nas:445: accepted by {ACL2}"),
            (True, f"alice@example.com -> web:80: accepted by {ACL2}"),
        ],
    ),
    (
        {"user": "bob@example.com", "allow": ["tag:prod:443"]},
        [(True, f"bob@example.com -> tag:prod:443: accepted by {ACL0}")],
    ),
    (
        {"src": "alice@example.com", "accept": ["tag:prod:8443"]},
        [(True, f"alice@example.com -> tag:prod:8443: accepted by {GRANT0}")],
    ),
    (
        {"src": "group:eng", "accept": ["tag:prod:443"], "deny": ["tag:db:5432"]},
        [
            (True, f"group:eng -> tag:prod:443: accepted by {ACL0}"),
            (True, "group:eng -> tag:db:5432: denied: no rule matches"),
        ],
    ),
]

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"src": "bob@example.com", "accept": ["tag:prod:22,443"]},
     "'tag:prod:22,443': a test names one port, not a list"),
    ({"src": "bob@example.com", "accept": ["tag:prod:22-23"]},
     "'tag:prod:22-23': a test names one port, not a range"),
    ({"src": "bob@example.com", "accept": ["tag:prod:*"]},
     "'tag:prod:*': a test names one port, not '*'"),
    ({"src": "bob@example.com", "accept": ["tag:prod:0"]},
     "'tag:prod:0': port 0 out of range 1-65535"),
    ({"src": "bob@example.com", "accept": ["tag:prod:70000"]},
     "'tag:prod:70000': port 70000 out of range 1-65535"),
    ({"src": "bob@example.com", "accept": ["tag:prod:ssh"]},
     "'tag:prod:ssh': invalid port 'ssh'"),
    ({"src": "bob@example.com", "accept": ["192.168.1.0/24:22"]},
     "'192.168.1.0/24:22': a test destination is one host, not a network"),
    ({"src": "bob@example.com", "accept": ["lan:22"]},
     "dst 'lan' is the network 192.168.1.0/24, not one host"),
    ({"src": "bob@example.com", "accept": ["fd7a:115c:a1e0::1:22"]},
     "'fd7a:115c:a1e0::1:22': write an IPv6 destination as [addr]:port"),
    ({"src": "bob@example.com", "accept": ["tag:nope:22"]},
     'dst="tag:nope": tag not found: "tag:nope"'),
    ({"src": "bob@example.com", "accept": ["autogroup:internet:443"]},
     "dst 'autogroup:internet' is not a single host (use a tag, a host or an IP)"),
    ({"src": "tag:prod", "accept": ["autogroup:self:22"]},
     "autogroup:self as a test destination needs a user or group src"),
    ({"src": "bob@example.com", "accept": ["nowhere:22"]}, "dst 'nowhere': host not found"),
    ({"src": "tag:nope", "accept": ["tag:prod:22"]}, 'src=tag not found: "tag:nope"'),
    ({"src": "group:nope", "accept": ["tag:prod:22"]}, "src 'group:nope': group not found"),
    ({"src": "autogroup:self", "accept": ["tag:prod:22"]},
     "src 'autogroup:self' is not a valid test source"),
    ({"src": "lan", "accept": ["tag:prod:22"]}, "src 'lan' is a network, not one host"),
    ({"src": "bob@example.com"}, "test has neither accept nor deny"),
    ({"accept": ["tag:prod:22"]}, "test has no src"),
    ({"src": "bob@example.com", "proto": "bogus", "accept": ["tag:prod:22"]},
     "unknown protocol 'bogus'"),
]  # fmt: skip


def test_unknown_user_is_a_user_offline_but_not_on_the_topology() -> None:
    """Offline the tailnet's users are unknown: a user a test names stands for a device."""
    test = {"src": "carol@example.com", "accept": ["tag:prod:22"]}
    symbolic = run_tests(load([test]))
    assert [(r.passed, r.actual, r.reason) for r in symbolic.results] == [
        (False, Outcome.DENY, "carol@example.com -> tag:prod:22: expected accept, denied: "
         "no rule matches")
    ]  # fmt: skip
    topology = run_tests(load([test]), nodes())
    assert [(r.passed, r.actual, r.reason) for r in topology.results] == [
        (False, Outcome.INVALID, "invalid test: src 'carol@example.com' is not a user of this "
         "tailnet")
    ]  # fmt: skip


def test_user_destination_is_every_device_of_the_user() -> None:
    """Live policies write `user:port` test destinations (unverified: lint says so)."""
    report = run_tests(load([{"src": "bob@example.com", "accept": ["alice@example.com:22"]}]))
    assert _pairs(report) == [
        (False, "bob@example.com -> alice@example.com:22: expected accept, denied: no rule matches")
    ]


def _pairs(report: TestReport) -> list[tuple[bool, str]]:
    return [(r.passed, r.reason) for r in report.results]


@pytest.mark.parametrize("topology", [False, True], ids=["symbolic", "topology"])
@pytest.mark.parametrize(("test", "want"), AGREEING)
def test_verdicts_agree(test: dict[str, Any], want: list[tuple[bool, str]], topology: bool) -> None:
    report = run_tests(load([test]), nodes() if topology else None)
    assert _pairs(report) == want
    assert report.passed is all(ok for ok, _ in want)
    assert report.mode == ("topology" if topology else "symbolic")


@pytest.mark.parametrize(("test", "reason"), INVALID)
def test_invalid_tests_fail_with_reason(test: dict[str, Any], reason: str) -> None:
    report = run_tests(load([test]))
    assert [(r.passed, r.actual, r.reason) for r in report.results] == [
        (False, Outcome.INVALID, f"invalid test: {reason}")
    ]


def test_tailnet_addresses_without_a_device_are_unverified_offline() -> None:
    """Offline an unknown tailnet address may be anybody's device: a denial is not certain."""
    test = {"src": "alice@example.com", "deny": ["[fd7a:115c:a1e0::1]:22", "100.64.9.9:22"]}
    doubt = "is a tailnet device whose identity is not known offline; give --nodes to decide"
    assert _pairs(run_tests(load([test]))) == [
        (True, f"alice@example.com -> [fd7a:115c:a1e0::1]:22: unverified: fd7a:115c:a1e0::1 "
         f"{doubt} (alice@example.com -> [fd7a:115c:a1e0::1]:22: denied: no rule matches)"),
        (True, f"alice@example.com -> 100.64.9.9:22: unverified: 100.64.9.9 {doubt} "
         "(alice@example.com -> 100.64.9.9:22: denied: no rule matches)"),
    ]  # fmt: skip
    assert run_tests(load([test])).unverified != ()
    assert _pairs(run_tests(load([test]), nodes())) == [
        (True, "alice@example.com -> [fd7a:115c:a1e0::1]:22: denied: no rule matches"),
        (True, "alice@example.com -> 100.64.9.9:22: denied: no rule matches"),
    ]


def test_topology_only_differences() -> None:
    """An address literal is a device only with --nodes; partial coverage names the pairs."""
    tests = [
        {"src": "100.64.0.2", "accept": ["tag:prod:22"]},
        {"src": "bob@example.com", "accept": ["tag:prod:8080"]},
    ]
    symbolic = run_tests(load(tests))
    topology = run_tests(load(tests), nodes())
    assert _pairs(symbolic) == [
        (True, "100.64.0.2 -> tag:prod:22: unverified: 100.64.0.2 is a tailnet device whose "
         "identity is not known offline; give --nodes to decide (100.64.0.2 -> tag:prod:22: "
         "expected accept, denied: no rule matches)"),
        (False, "bob@example.com -> tag:prod:8080: expected accept, denied: no rule matches"),
    ]  # fmt: skip
    assert _pairs(topology) == [
        (True, f"100.64.0.2 -> tag:prod:22: accepted by {ACL0}"),
        (
            False,
            "bob@example.com -> tag:prod:8080: expected accept, denied: "
            "no rule matches for bob-laptop -> prod2 (1 of 2 pairs)",
        ),
    ]


def test_results_carry_spans_and_rules() -> None:
    report = run_tests(load([{"src": "alice@example.com", "accept": ["tag:prod:22"]}]))
    (result,) = report.results
    assert (result.span.path, result.span.line, result.span.col) == ("policy.hujson", 21, 53)
    assert result.rules == (RuleRef("acls", 0, result.rules[0].span),)
    assert result.rules[0].span is not None and result.rules[0].span.line == 7
    assert (result.section, result.entry, result.src, result.dst, result.proto) == (
        "tests", 0, "alice@example.com", "tag:prod:22", None,
    )  # fmt: skip
    assert (result.expected, result.actual) == (Outcome.ACCEPT, Outcome.ACCEPT)


SSH = [
    {"src": "alice@example.com", "dst": ["tag:prod"], "accept": ["root", "alice"],
     "check": ["root"]},
    {"src": "alice@example.com", "dst": ["tag:db"], "check": ["alice"], "deny": ["root"]},
    {"src": "bob@example.com", "dst": ["tag:db", "alice@example.com"], "deny": ["bob"]},
    {"src": "bob@example.com", "dst": ["tag:prod"], "accept": [""]},
    {"src": "bob@example.com", "dst": ["tag:prod"]},
]  # fmt: skip

SSH_WANT = [
    (True, f"alice@example.com -> tag:prod as root: accepted by {SSH0}"),
    (True, f"alice@example.com -> tag:prod as alice: accepted by {SSH0}"),
    (
        False,
        f"alice@example.com -> tag:prod as root: expected check, accepted without check by {SSH0}",
    ),
    (True, f"alice@example.com -> tag:db as alice: checked by {SSH1}"),
    (True, "alice@example.com -> tag:db as root: denied: no SSH rule matches"),
    (True, "bob@example.com -> tag:db as bob: denied: no SSH rule matches"),
    (True, "bob@example.com -> alice@example.com as bob: denied: no SSH rule matches"),
    (False, "invalid test: an SSH login user cannot be empty"),
    (False, "invalid test: sshTests entry has no accept, check or deny"),
]


@pytest.mark.parametrize("topology", [False, True], ids=["symbolic", "topology"])
def test_ssh_tests(topology: bool) -> None:
    report = run_tests(load(ssh_tests=SSH), nodes() if topology else None)
    assert _pairs(report) == SSH_WANT
    assert [e.name for e in report.entries] == [f"sshTests[{i}]" for i in range(5)]
    assert [e.passed for e in report.entries] == [False, True, True, False, False]


def test_ssh_host_dst_needs_a_device() -> None:
    test = {"src": "alice@example.com", "dst": ["web"], "deny": ["root"]}
    report = run_tests(load(ssh_tests=[test]))
    assert _pairs(report) == [
        (
            True,
            "alice@example.com -> root@web: unverified: the address is a device tailcfg does "
            "not know offline; give --nodes to decide (invalid test: no device has the address "
            "'100.64.0.50' without --nodes (run with --nodes))",
        )
    ]
    assert [r.unverified for r in report.results] == [True]


def test_no_tests_passes() -> None:
    report = run_tests(load())
    assert (report.passed, report.entries, report.results) == (True, (), ())


def test_policy_without_rules_allows_everything() -> None:
    from tailcfg.policy.compile.engine import load_policy

    text = '{"tagOwners": {"tag:a": []}, "tests": [{"src": "tag:a", "accept": ["tag:a:22"]}]}'
    report = run_tests(load_policy(text, "p.hujson"))
    assert _pairs(report) == [
        (True, "tag:a -> tag:a:22: accepted by p.hujson:1 (default allow-all: no acls or grants)")
    ]
