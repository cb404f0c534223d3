"""Constructs live policies use beyond the captures: verdict and wire output, one by one.

Each policy is small and written here; the construct comes from public tailnet policy files
(docs/conformance.md, "Live policies", has the table of constructs and the evidence for
each verdict). The rule: an error only where Tailscale's server is known to reject, a
``warning[unverified]`` where its answer is not known, nothing where it is known to accept.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rwcases import (
    DEVICES,
    WEB_VIPS,
    codes,
    compiled,
    devices,
    findings,
    policy_tests,
    verdicts,
)

from tailcfg.errors import PolicyError
from tailcfg.policy.compile.engine import compile_file, load_policy

TAGS = '"tagOwners": {"tag:server": ["autogroup:admin"], "tag:recorder": ["autogroup:admin"]}'
ALICE = ["100.64.0.1", "fd7a:115c:a1e0::1"]
BOB = ["100.64.0.2", "fd7a:115c:a1e0::2"]
DAO = ["100.64.0.10", "fd7a:115c:a1e0::a"]


def ports(ip: str, first: int, last: int | None = None) -> dict[str, object]:
    return {"IP": ip, "Ports": {"First": first, "Last": first if last is None else last}}


# --- Tailscale Services (svc:NAME) -----------------------------------------------------

SERVICE_GRANT = f"""{{
  {TAGS},
  "grants": [{{"src": ["alice@example.com"], "dst": ["svc:web"], "ip": ["443"]}}],
  "autoApprovers": {{"services": {{"svc:web": ["tag:server"], "tag:server": ["tag:server"]}}}},
  "tests": [
    {{"src": "alice@example.com", "accept": ["svc:web:443"], "deny": ["svc:web:80"]}},
    {{"src": "bob@example.com", "deny": ["svc:web:443"]}},
  ],
}}"""


def test_service_grant_lints_clean() -> None:
    assert findings(SERVICE_GRANT) == []


def test_service_grant_reaches_the_hosts_at_the_service_addresses() -> None:
    web = [{"name": "svc:web", "addrs": WEB_VIPS, "hosts": ["dao"]}]
    out = compiled(SERVICE_GRANT, devices(web))
    assert out["dao"]["packet_filter"] == [
        {"SrcIPs": ALICE, "DstPorts": [ports(WEB_VIPS[0], 443), ports(WEB_VIPS[1], 443)]}
    ]
    assert out["laptop"]["packet_filter"] == []
    assert out["laptop"]["peers"] == ["dao"]
    assert out["phone"]["peers"] == []


def test_service_grant_without_hosts_compiles_to_nothing_and_says_so(tmp_path: Path) -> None:
    out = compiled(SERVICE_GRANT, devices())
    assert all(node["packet_filter"] == [] for node in out.values())
    (tmp_path / "policy.hujson").write_text(SERVICE_GRANT)
    (tmp_path / "nodes.json").write_text(json.dumps(DEVICES))
    result = compile_file(tmp_path / "policy.hujson", tmp_path / "nodes.json")
    assert result["skipped"] == [
        {
            "at": f"{tmp_path / 'policy.hujson'}:3:53",
            "rule": "grants[0]",
            "alias": "svc:web",
            "reason": "no device hosts svc:web in the devices file (its services list gives a "
            "service's addresses and hosts)",
        }
    ]


def test_service_tests_symbolic_and_on_a_topology() -> None:
    want = [
        (True, "alice@example.com -> svc:web:443: accepted by policy.hujson:3 (grants[0])"),
        (True, "alice@example.com -> svc:web:80: denied: no rule matches"),
        (True, "bob@example.com -> svc:web:443: denied: no rule matches"),
    ]
    assert verdicts(policy_tests(SERVICE_GRANT)) == want
    web = [{"name": "svc:web", "addrs": WEB_VIPS, "hosts": ["dao"]}]
    assert verdicts(policy_tests(SERVICE_GRANT, devices(web))) == want


def test_service_as_acl_destination_is_unverified_and_compiles_like_a_grant() -> None:
    policy = f"""{{
  {TAGS},
  "acls": [{{"action": "accept", "src": ["alice@example.com"], "dst": ["svc:web:443"]}}],
}}"""
    assert codes(policy) == [("warning", "unverified")]
    web = [{"name": "svc:web", "addrs": WEB_VIPS, "hosts": ["dao"]}]
    assert compiled(policy, devices(web))["dao"]["packet_filter"] == [
        {"SrcIPs": ALICE, "DstPorts": [ports(WEB_VIPS[0], 443), ports(WEB_VIPS[1], 443)]}
    ]


@pytest.mark.parametrize(
    ("place", "where"),
    [
        ('"grants": [{"src": ["svc:web"], "dst": ["*"], "ip": ["*"]}]', 4),
        ('"ssh": [{"action": "accept", "src": ["svc:web"], "dst": ["tag:server"], '
         '"users": ["root"]}]', 4),
        ('"nodeAttrs": [{"target": ["svc:web"], "attr": ["funnel"]}]', 4),
    ],
)  # fmt: skip
def test_service_is_never_a_source_nor_an_ssh_or_nodeattrs_target(place: str, where: int) -> None:
    policy = f"{{\n  {TAGS},\n\n  {place},\n}}"
    found = findings(policy)
    assert [(sev, code, line) for sev, code, _msg, line, _col in found] == [
        ("error", "service", where)
    ]


def test_service_name_that_is_no_dns_label_is_unverified() -> None:
    policy = '{"grants": [{"src": ["*"], "dst": ["svc:my_web"], "ip": ["443"]}]}'
    assert findings(policy) == [
        (
            "warning",
            "unverified",
            '"svc:my_web" is not a valid service name: "my_web" is not a valid DNS label: '
            'contains invalid character "_" (Tailscale\'s client rejects such a name; the '
            "server's answer is not known)",
            1,
            36,
        )
    ]


# --- SSH session recording -------------------------------------------------------------

RECORDED = f"""{{
  {TAGS},
  "grants": [{{"src": ["autogroup:member"], "dst": ["tag:server"], "ip": ["22"]}}],
  "ssh": [
    {{"action": "accept", "src": ["autogroup:admin"], "dst": ["tag:server"], "users": ["root"],
      "recorder": ["tag:recorder"], "enforceRecorder": true}},
    {{"action": "accept", "src": ["bob@example.com"], "dst": ["tag:server"], "users": ["bob"],
      "recorder": ["tag:recorder"]}},
  ],
}}"""


def test_recorder_lints_clean() -> None:
    assert findings(RECORDED) == []


def test_recorder_on_the_wire() -> None:
    out = compiled(RECORDED, devices())
    rules = out["dao"]["ssh_policy"]["rules"]
    accept = {
        "accept": True,
        "allowAgentForwarding": True,
        "allowLocalPortForwarding": True,
        "allowRemotePortForwarding": True,
        "recorders": ["100.64.0.20:80", "[fd7a:115c:a1e0::14]:80"],
    }
    enforced = dict(accept)
    enforced["onRecordingFailure"] = {
        "RejectSessionWithMessage": (
            "# Tailscale SSH: this session must be recorded, and recording failed to start."
        ),
        "TerminateSessionWithMessage": (
            "# Tailscale SSH: this session must be recorded, and recording failed."
        ),
    }
    assert rules == [
        {
            "principals": [{"nodeIP": a} for a in ALICE],
            "sshUsers": {"root": "root"},
            "action": enforced,
        },
        {
            "principals": [{"nodeIP": a} for a in BOB],
            "sshUsers": {"bob": "bob", "root": ""},
            "action": accept,
        },
    ]
    # the recorder takes uploads on TCP/80 from the recorded SSH servers
    assert out["rec"]["packet_filter"] == [
        {
            "SrcIPs": DAO,
            "DstPorts": [ports("100.64.0.20", 80), ports("fd7a:115c:a1e0::14", 80)],
            "IPProto": [6],
        }
    ]
    assert "rec" in out["dao"]["peers"]


def test_recorder_naming_an_undefined_tag_is_rejected() -> None:
    policy = RECORDED.replace('"recorder": ["tag:recorder"], "enforceRecorder"', '"recorder": '
                              '["tag:nope"], "enforceRecorder"')  # fmt: skip
    assert codes(policy) == [("error", "undefined-tag")]


# --- role autogroups -------------------------------------------------------------------


def test_role_autogroups_as_ssh_sources_select_the_role_holders() -> None:
    policy = f"""{{
  {TAGS},
  "ssh": [{{"action": "check", "src": ["autogroup:admin", "autogroup:it-admin"],
            "dst": ["tag:server"], "users": ["root"]}}],
}}"""
    assert findings(policy) == []
    rules = compiled(policy, devices())["dao"]["ssh_policy"]["rules"]
    assert [r["principals"] for r in rules] == [[{"nodeIP": a} for a in ALICE]]


def test_role_autogroup_as_ssh_destination_is_rejected() -> None:
    policy = f"""{{
  {TAGS},
  "ssh": [{{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:admin"],
            "users": ["root"]}}],
}}"""
    assert findings(policy) == [
        (
            "error",
            "autogroup",
            'autogroup not supported for SSH destinations: "autogroup:admin"',
            3,
            69,
        )
    ]


def test_role_autogroup_in_grants_and_owner_is_admin() -> None:
    policy = f"""{{
  {TAGS},
  "grants": [{{"src": ["autogroup:admin"], "dst": ["tag:server"], "ip": ["22"]}}],
}}"""
    assert findings(policy) == []
    nodes = devices()
    out = compiled(policy, nodes)
    assert out["dao"]["packet_filter"] == [
        {"SrcIPs": ALICE, "DstPorts": [ports(DAO[0], 22), ports(DAO[1], 22)]}
    ]
    owner = [n if n.name != "phone" else n.__class__(**{**_fields(n), "roles": ("owner",)})
             for n in nodes]  # fmt: skip
    both = ["100.64.0.1", "100.64.0.2", "fd7a:115c:a1e0::1", "fd7a:115c:a1e0::2"]
    assert compiled(policy, owner)["dao"]["packet_filter"][0]["SrcIPs"] == both


def _fields(node: object) -> dict[str, object]:
    return {name: getattr(node, name) for name in node.__slots__}  # type: ignore[attr-defined]


# --- autogroup:members (legacy plural) -------------------------------------------------


def test_members_plural_is_accepted_with_a_hint_and_compiles_as_member() -> None:
    legacy = """{
  "acls": [{"action": "accept", "src": ["autogroup:members"], "dst": ["autogroup:self:*"]}],
  "ssh": [{"action": "check", "src": ["autogroup:members"], "dst": ["autogroup:self"],
           "users": ["autogroup:nonroot", "root"]}],
}"""
    assert findings(legacy) == [
        ("warning", "legacy", '"autogroup:members" is the legacy spelling of "autogroup:member"',
         2, 41),
        ("warning", "legacy", '"autogroup:members" is the legacy spelling of "autogroup:member"',
         3, 39),
    ]  # fmt: skip
    current = legacy.replace("autogroup:members", "autogroup:member")
    assert findings(current) == []
    assert compiled(legacy, devices()) == compiled(current, devices())


def test_members_and_member_in_one_file_is_rejected() -> None:
    policy = """{
  "acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:22"]},
           {"action": "accept", "src": ["autogroup:members"], "dst": ["*:80"]}],
}"""
    assert codes(policy) == [("error", "autogroup"), ("warning", "legacy")]


# --- first-party capabilities ----------------------------------------------------------


def test_documented_first_party_capabilities_are_accepted() -> None:
    policy = f"""{{
  {TAGS},
  "grants": [{{"src": ["autogroup:member"], "dst": ["tag:server"],
    "app": {{"tailscale.com/cap/golink": [{{"admin": true}}], "tailscale.com/cap/tailsql": [{{}}],
            "tailscale.com/cap/secrets": [{{}}], "tailscale.com/cap/tsidp": [{{}}]}}}}],
}}"""
    assert findings(policy) == []
    caps = compiled(policy, devices())["dao"]["packet_filter"][0]["CapGrant"][0]["CapMap"]
    assert sorted(caps) == [f"tailscale.com/cap/{x}" for x in ("golink", "secrets", "tailsql",
                                                               "tsidp")]  # fmt: skip


def test_unknown_first_party_capability_is_unverified_and_a_captured_refusal_an_error() -> None:
    unknown = '{"grants": [{"src": ["*"], "dst": ["*"], "app": {"tailscale.com/cap/pam": [{}]}}]}'
    assert codes(unknown) == [("warning", "unverified")]
    assert load_policy(unknown, "p.hujson").grants[0].has_app
    refused = unknown.replace("cap/pam", "cap/funnel")
    assert findings(refused) == [
        ("error", "capability", "capability name must not be in the tailscale.com domain", 1, 50)
    ]
    with pytest.raises(PolicyError):
        load_policy(refused, "p.hujson")


# --- tests for any identity, offline ---------------------------------------------------

ANY_USER = f"""{{
  {TAGS},
  "groups": {{"group:eng": ["carl@github", "dana@passkey"]}},
  "grants": [{{"src": ["group:eng"], "dst": ["tag:server"], "ip": ["22"]}}],
  "tests": [
    {{"src": "carl@github", "accept": ["tag:server:22"]}},
    {{"src": "dana@passkey", "accept": ["tag:server:22"]}},
    {{"src": "someone@gmail.com", "deny": ["tag:server:22"]}},
  ],
  "sshTests": [{{"src": "erin@example.com", "dst": ["tag:server"], "deny": ["root"]}}],
}}"""


def test_any_user_a_test_names_is_a_user_offline() -> None:
    report = policy_tests(ANY_USER)
    assert report.mode == "symbolic"
    assert verdicts(report) == [
        (True, "carl@github -> tag:server:22: accepted by policy.hujson:4 (grants[0])"),
        (True, "dana@passkey -> tag:server:22: accepted by policy.hujson:4 (grants[0])"),
        (True, "someone@gmail.com -> tag:server:22: denied: no rule matches"),
        (True, "erin@example.com -> tag:server as root: denied: no SSH rule matches"),
    ]


def test_on_a_topology_the_devices_decide_who_is_a_user() -> None:
    """With --nodes, users are the devices' owners and the users the rules name."""
    report = policy_tests(ANY_USER, devices())
    assert [ok for ok, _ in verdicts(report)] == [True, True, False, False]
    assert verdicts(report)[2:] == [
        (False, "invalid test: src 'someone@gmail.com' is not a user of this tailnet"),
        (False, "invalid test: src 'erin@example.com' is not a user of this tailnet"),
    ]


def test_autogroup_as_a_test_source_stays_rejected() -> None:
    """The server refuses such tests (the push fails); offline they fail, saying why."""
    policy = """{
  "tests": [{"src": "autogroup:admin", "accept": ["100.64.0.10:22"]}],
  "sshTests": [{"src": "autogroup:admin", "dst": ["100.64.0.10"], "accept": ["root"]}],
}"""
    assert verdicts(policy_tests(policy)) == [
        (False, "invalid test: src 'autogroup:admin' is not a valid test source"),
        (False, "invalid test: src 'autogroup:admin' is not a valid test source"),
    ]


# --- grant ip spellings ----------------------------------------------------------------


def test_grant_ip_star_star_is_unverified_and_read_as_star() -> None:
    policy = '{"grants": [{"src": ["*"], "dst": ["100.64.0.10"], "ip": ["*:*"]}]}'
    assert codes(policy) == [("warning", "unverified")]
    star = policy.replace('"*:*"', '"*"')
    assert codes(star) == []
    assert compiled(policy, devices()) == compiled(star, devices())


def test_grant_ip_comma_list_is_unverified_and_read_as_the_ports() -> None:
    policy = '{"grants": [{"src": ["*"], "dst": ["100.64.0.10"], "ip": ["tcp:80,443"]}]}'
    assert codes(policy) == [("warning", "unverified")]
    split = policy.replace('"tcp:80,443"', '"tcp:80", "tcp:443"')
    assert compiled(policy, devices()) == compiled(split, devices())


# --- legacy fields, tests spellings, other top-level keys --------------------------------


def test_legacy_acl_and_test_fields() -> None:
    legacy = """{
  "acls": [{"action": "accept", "users": ["alice@example.com"], "ports": ["100.64.0.10:22"]}],
  "tests": [{"user": "alice@example.com", "allow": ["100.64.0.10:22"]}],
}"""
    assert findings(legacy) == []
    current = legacy.replace('"users"', '"src"').replace('"ports"', '"dst"')
    assert compiled(legacy, devices()) == compiled(current, devices())
    assert [ok for ok, _ in verdicts(policy_tests(legacy))] == [True]


def test_bracketed_ipv6_test_destination() -> None:
    policy = """{
  "grants": [{"src": ["alice@example.com"], "dst": ["fd7a:115c:a1e0::a"], "ip": ["22"]}],
  "tests": [{"src": "alice@example.com", "accept": ["[fd7a:115c:a1e0::a]:22"],
             "deny": ["[fd7a:115c:a1e0::a]:80"]}],
}"""
    assert findings(policy) == []
    assert [ok for ok, _ in verdicts(policy_tests(policy, devices()))] == [True, True]


def test_postures_default_src_posture_and_attr_config() -> None:
    policy = """{
  "postures": {"posture:latest": ["node:tsReleaseTrack == 'stable'"]},
  "defaultSrcPosture": ["posture:latest"],
  "grants": [{"src": ["autogroup:member"], "dst": ["autogroup:self"], "ip": ["*"],
              "srcPosture": ["posture:latest"]}],
  "attrConfig": {"custom:attr": {"type": "string"}},
}"""
    assert findings(policy) == []


def test_node_visibility_is_unverified_and_unknown_keys_rejected() -> None:
    assert codes('{"nodeVisibility": "restricted"}') == [("warning", "unverified")]
    assert findings('{"dns": {"routes": {}}}') == [
        ("error", "unknown-field", 'unknown field "dns"', 1, 2)
    ]


# --- what offline cannot know ------------------------------------------------------------

ADMIN_ONLY = f"""{{
  {TAGS},
  "grants": [{{"src": ["autogroup:admin"], "dst": ["tag:server"], "ip": ["22"]}}],
  "tests": [{{"src": "jacob@example.com", "accept": ["tag:server:22"]}}],
}}"""


def test_verdict_hanging_on_roles_is_unverified_offline_and_decided_on_a_topology() -> None:
    report = policy_tests(ADMIN_ONLY)
    assert (report.passed, [r.unverified for r in report.results]) == (True, [True])
    assert report.results[0].reason == (
        "jacob@example.com -> tag:server:22: unverified: the verdict depends on roles "
        "(autogroup:admin) that tailcfg does not know offline: it passes when "
        "jacob@example.com holds one, fails when not; give --nodes with the users' roles to "
        "decide (jacob@example.com -> tag:server:22: expected accept, denied: no rule matches)"
    )
    admin = ADMIN_ONLY.replace("jacob@example.com", "alice@example.com")
    assert verdicts(policy_tests(admin, devices())) == [
        (True, "alice@example.com -> tag:server:22: accepted by policy.hujson:3 (grants[0])")
    ]
    bob = ADMIN_ONLY.replace("jacob@example.com", "bob@example.com")
    assert verdicts(policy_tests(bob, devices())) == [
        (False, "bob@example.com -> tag:server:22: expected accept, denied: no rule matches")
    ]


def test_internet_address_is_reached_through_an_exit_node_offline() -> None:
    policy = f"""{{
  {TAGS},
  "grants": [{{"src": ["tag:server"], "dst": ["autogroup:internet"], "ip": ["*"]}}],
  "autoApprovers": {{"routes": {{"2001:db8:1::/64": ["tag:recorder"]}}}},
  "tests": [{{"src": "tag:server", "accept": ["1.1.1.1:53"], "deny": ["[2001:db8:1::9]:22"]}}],
}}"""
    assert [ok for ok, _ in verdicts(policy_tests(policy))] == [True, True]


def test_portless_protocol_and_user_destinations() -> None:
    policy = f"""{{
  {TAGS},
  "grants": [{{"src": ["bob@example.com"], "dst": ["tag:server"], "ip": ["icmp:*"]}},
             {{"src": ["bob@example.com"], "dst": ["alice@example.com"], "ip": ["22"]}}],
  "tests": [{{"src": "bob@example.com", "proto": "icmp", "accept": ["tag:server", "tag:server:0"]}},
            {{"src": "bob@example.com", "accept": ["alice@example.com:22"]}}],
}}"""
    assert codes(policy) == [("warning", "unverified")] * 3
    assert [ok for ok, _ in verdicts(policy_tests(policy))] == [True, True, True]
    assert [ok for ok, _ in verdicts(policy_tests(policy, devices()))] == [True, True, True]
