"""The typed policy model: every rule, alias and test keeps its span; legacy fields."""

from __future__ import annotations

import dataclasses

import pytest

from tailcfg.hujson import parse
from tailcfg.policy.model.parse import build_policy
from tailcfg.policy.model.policy import Policy

TEXT = """{
  // legacy spellings
  "acls": [
    {"action": "accept", "users": ["group:a"], "ports": ["tag:web:22"]},
    {"action": "accept", "src": ["*"], "proto": "udp", "dst": ["*:53"]},
  ],
  "groups": {"group:a": ["odin@example.com"]},
  "hosts": {"nas": "192.168.1.10"},
  "tagOwners": {"tag:web": ["group:a"]},
  "grants": [{"src": ["*"], "dst": ["tag:web"], "ip": ["tcp:443"], "via": ["tag:web"]}],
  "ssh": [{"action": "check", "src": ["group:a"], "dst": ["tag:web"], "users": ["root"],
           "checkPeriod": "1h", "acceptEnv": ["LANG"]}],
  "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:web"]}, "exitNode": ["tag:web"]},
  "tests": [{"user": "odin@example.com", "allow": ["tag:web:22"], "deny": ["nas:80"]}],
  "sshTests": [{"src": "odin@example.com", "dst": ["tag:web"], "accept": ["root"]}],
}
"""


@pytest.fixture(scope="module")
def policy() -> Policy:
    return build_policy(parse(TEXT, "p.hujson"), users=["odin@example.com"])


def test_acls_normalise_legacy_fields(policy: Policy) -> None:
    first, second = policy.acls
    assert (first.src_key, first.dst_key) == ("users", "ports")
    assert [r.text for r in first.src] == ["group:a"]
    assert [r.text for r in first.dst] == ["tag:web:22"]
    assert second.proto is not None and second.proto.text == "udp"
    assert (first.span.line, second.span.line) == (4, 5)
    assert (first.src[0].span.line, first.src[0].span.col) == (4, 36)


def test_sections(policy: Policy) -> None:
    assert policy.has_acls and policy.has_grants
    assert [m.text for m in policy.groups["group:a"].members] == ["odin@example.com"]
    assert policy.hosts["nas"].value.text == "192.168.1.10"
    assert list(policy.tag_owners) == ["tag:web"]
    (g,) = policy.grants
    assert ([r.text for r in g.ip], [r.text for r in g.via], g.has_ip, g.has_app) == (
        ["tcp:443"],
        ["tag:web"],
        True,
        False,
    )
    (s,) = policy.ssh
    assert (s.action, s.check_period, [e.text for e in s.accept_env]) == ("check", "1h", ["LANG"])
    assert [r.text for r in policy.auto_approvers.routes["10.0.0.0/8"]] == ["tag:web"]
    assert [r.text for r in policy.auto_approvers.exit_node] == ["tag:web"]
    assert policy.users == ("odin@example.com",)


def test_tests_normalise_legacy_fields(policy: Policy) -> None:
    (t,) = policy.tests
    assert t.src is not None and t.src.text == "odin@example.com"
    assert [r.text for r in t.accept] == ["tag:web:22"]
    assert [r.text for r in t.deny] == ["nas:80"]
    assert (t.span.line, t.span.col) == (14, 13)
    (st,) = policy.ssh_tests
    assert [r.text for r in st.dst] == ["tag:web"]
    assert [r.text for r in st.accept] == ["root"]


def test_model_is_immutable(policy: Policy) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.acls = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.groups["group:b"] = policy.groups["group:a"]  # type: ignore[index]
