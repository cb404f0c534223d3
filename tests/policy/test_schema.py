"""schemas/policy.schema.json and its positioned diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tailcfg import hujson
from tailcfg.policy.validate.schema import (
    _section_checks,
    canonical_value,
    check_schema,
    format_path,
    original_path,
    policy_validator,
)

EVERY_SECTION = """{
  // Every top-level section the policy file has, each in a valid shape.
  "groups": {"group:admins": ["odin@example.com"]},
  "hosts": {"nas": "192.168.1.10"},
  "tagOwners": {"tag:server": ["group:admins"], "tag:router": null},
  "ipsets": {"ipset:office": ["192.168.1.0/24", "nas"]},
  "postures": {"posture:latest": ["node:tsVersion >= '1.60'"]},
  "defaultSrcPosture": ["posture:latest"],
  "acls": [
    {"action": "accept", "src": ["group:admins"], "dst": ["tag:server:22"], "proto": "tcp"},
    {"action": "accept", "users": ["odin@example.com"], "ports": ["nas:445"]},
    {"action": "accept", "src": ["*"], "dst": ["*:*"], "srcPosture": ["posture:latest"]},
  ],
  "grants": [
    {"src": ["group:admins"], "dst": ["tag:server"], "ip": ["tcp:443"], "srcPosture": []},
    {"src": ["*"], "dst": ["*"], "app": {"example.com/cap/x": [{"a": 1}]}},
    {"src": ["*"], "dst": ["192.168.1.0/24"], "ip": ["*"], "via": ["tag:router"]},
  ],
  "autoApprovers": {"routes": {"192.168.1.0/24": ["tag:router"]}, "exitNode": ["tag:router"]},
  "ssh": [
    {
      "action": "check",
      "src": ["group:admins"],
      "dst": ["tag:server"],
      "users": ["root", "autogroup:nonroot"],
      "checkPeriod": "12h",
      "acceptEnv": ["GIT_*"],
    },
  ],
  "nodeAttrs": [
    {"target": ["*"], "attr": ["funnel"]},
    {"target": ["group:admins"], "ipPool": ["100.81.0.0/16"]},
    {"target": ["tag:server"], "app": {"tailscale.com/app-connectors": [{"name": "x"}]}},
  ],
  "tests": [
    {"src": "odin@example.com", "proto": "tcp", "accept": ["tag:server:22"], "deny": []},
    {"user": "odin@example.com", "allow": ["nas:445"]},
  ],
  "sshTests": [
    {"src": "odin@example.com", "dst": ["tag:server"], "accept": ["root"], "check": [],
     "deny": ["nobody"]},
  ],
  "derpMap": {
    "OmitDefaultRegions": true,
    "Regions": {
      "900": {
        "RegionID": 900,
        "RegionCode": "home",
        "RegionName": "Home",
        "Nodes": [{"Name": "1", "RegionID": 900, "HostName": "derp.example.com",
                   "DERPPort": 443, "STUNPort": 3478}],
      },
    },
  },
  "disableIPv4": false,
  "randomizeClientPort": true,
  "OneCGNATRoute": "mac-always",
}
"""


def diagnostics(text: str) -> list[str]:
    return [d.render() for d in check_schema(hujson.parse(text, "p.hujson"))]


def test_schema_is_a_valid_2020_12_schema(repo_root: Path) -> None:
    schema = json.loads((repo_root / "schemas" / "policy.schema.json").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert policy_validator().schema == schema


def test_every_section_is_accepted() -> None:
    assert diagnostics(EVERY_SECTION) == []


def test_homelab_example_is_accepted(repo_root: Path) -> None:
    text = (repo_root / "examples" / "homelab" / "policy.hujson").read_text("utf-8")
    assert diagnostics(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"acl": []}',
            ['p.hujson:1:2: error[unknown-field]: unknown field "acl"'],
        ),
        (
            '{\n  "acls": [\n'
            '    {"action": "accept", "src": "*", "dst": ["*:*"], "note": 1},\n'
            "  ],\n}",
            [
                "p.hujson:3:33: error[schema]: acls[0].src: expected an array, got a string",
                'p.hujson:3:54: error[unknown-field]: acls[0]: unknown field "note"',
            ],
        ),
        (
            '{"groups": {"admins": ["a@example.com"], "group:x": "a@example.com"}}',
            [
                'p.hujson:1:13: error[schema]: groups: "admins" must start with "group:"',
                'p.hujson:1:53: error[schema]: groups["group:x"]: expected an array, got a string',
            ],
        ),
        (
            '{"grants": [{"src": ["*"], "ip": ["*"]}], "nodeAttrs": [{"attr": ["x"]}]}',
            [
                'p.hujson:1:13: error[schema]: grants[0]: missing required field "dst"',
                'p.hujson:1:57: error[schema]: nodeAttrs[0]: missing required field "target"',
            ],
        ),
        (
            '{"randomizeClientPort": "yes", "ssh": [{"checkPeriod": 5}]}',
            [
                "p.hujson:1:25: error[schema]: randomizeClientPort: expected a boolean, got a "
                "string",
                "p.hujson:1:56: error[schema]: ssh[0].checkPeriod: expected a string or null, "
                "got an integer",
            ],
        ),
        (
            "[]",
            ["p.hujson:1:1: error[schema]: expected an object, got an array"],
        ),
    ],
)
def test_schema_errors_point_at_the_value(text: str, expected: list[str]) -> None:
    assert diagnostics(text) == expected


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("acls", 0, "src", 1), "acls[0].src[1]"),
        (("groups", "group:a"), 'groups["group:a"]'),
        (("derpMap", "Regions", "900"), 'derpMap.Regions["900"]'),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


FIELD_NAMES = [
    "src",
    "dst",
    "action",
    "users",
    "ip",
    "app",
    "via",
    "target",
    "attr",
    "ipPool",
    "accept",
    "deny",
    "Regions",
    "Nodes",
    "RegionID",
    "group:a",
    "tag:a",
    "posture:a",
    "ipset:a",
    "900",
    "other",
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["*", "tag:a", "group:a", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(section=st.sampled_from(sorted(policy_validator().schema["properties"])), value=JSON_VALUES)
def test_fast_check_agrees_with_jsonschema(section: str, value: object) -> None:
    fast = _section_checks()[section](value)
    slow = not list(policy_validator().iter_errors({section: value}))
    assert fast == slow


def test_field_names_match_ignoring_case_but_map_keys_stay() -> None:
    written = {
        "ACLs": [{"Action": "accept", "Users": ["*"], "Ports": ["*:*"]}],
        "Groups": {"Group:Admins": ["a@example.com"]},
        "derpmap": {"regions": {"900": {"regionid": 900}}},
    }
    assert canonical_value(written) == {
        "acls": [{"action": "accept", "users": ["*"], "ports": ["*:*"]}],
        "groups": {"Group:Admins": ["a@example.com"]},
        "derpMap": {"Regions": {"900": {"RegionID": 900}}},
    }
    assert original_path(written, ("acls", 0, "users", 0)) == ("ACLs", 0, "Users", 0)
    assert original_path(written, ("derpMap", "Regions", "900")) == ("derpmap", "regions", "900")
    assert diagnostics('{"ACLs": [{"Action": "accept", "SRC": ["*"], "DST": ["*:*"]}]}') == []
