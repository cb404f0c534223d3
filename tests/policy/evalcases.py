"""A small policy and topology shared by the evaluate/explain/report tests."""

from __future__ import annotations

import json
from typing import Any

from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.model.nodes import Node, nodes_from_list
from tailcfg.policy.model.policy import Policy

# Line numbers matter: results point at them.
POLICY = """{
  // people and machines
  "groups": {"group:eng": ["alice@example.com", "bob@example.com"]},
  "tagOwners": {"tag:prod": ["alice@example.com"], "tag:db": ["alice@example.com"]},
  "hosts": {"nas": "192.168.1.10", "lan": "192.168.1.0/24", "web": "100.64.0.50"},
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:prod:22,443"]},
    {"action": "accept", "src": ["tag:prod"], "dst": ["tag:db:5432"], "proto": "tcp"},
    {"action": "accept", "src": ["alice@example.com"], "dst": ["nas:445", "web:80"]},
    {"action": "accept", "src": ["bob@example.com"], "dst": ["100.64.1.1:8080"]},
  ],
  "grants": [
    {"src": ["alice@example.com"], "dst": ["tag:prod"], "ip": ["tcp:8443"]},
  ],
  "ssh": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:prod"],
     "users": ["root", "autogroup:nonroot"]},
    {"action": "check", "src": ["alice@example.com"], "dst": ["tag:db"],
     "users": ["autogroup:nonroot"]},
  ],
  "tests": TESTS,
  "sshTests": SSH_TESTS,
}
"""

NODES: list[dict[str, Any]] = [
    {"name": "alice-laptop", "user": "alice@example.com", "ipv4": "100.64.0.1",
     "ipv6": "fd7a:115c:a1e0::1"},
    {"name": "bob-laptop", "user": "bob@example.com", "ipv4": "100.64.0.2",
     "ipv6": "fd7a:115c:a1e0::2"},
    {"name": "prod1", "tags": ["tag:prod"], "ipv4": "100.64.1.1", "ipv6": "fd7a:115c:a1e0::101"},
    {"name": "prod2", "tags": ["tag:prod"], "ipv4": "100.64.1.2", "ipv6": "fd7a:115c:a1e0::102"},
    {"name": "db", "tags": ["tag:db"], "ipv4": "100.64.2.1", "ipv6": "fd7a:115c:a1e0::201"},
    {"name": "router", "tags": ["tag:db"], "ipv4": "100.64.3.1", "ipv6": "fd7a:115c:a1e0::301",
     "routable_ips": ["192.168.1.0/24"], "approved_routes": ["192.168.1.0/24"]},
]  # fmt: skip


def policy_text(tests: list[Any] | None = None, ssh_tests: list[Any] | None = None) -> str:
    text = POLICY.replace("SSH_TESTS", json.dumps(ssh_tests or []))
    return text.replace("TESTS", json.dumps(tests or []))


def load(tests: list[Any] | None = None, ssh_tests: list[Any] | None = None) -> Policy:
    return load_policy(policy_text(tests, ssh_tests), "policy.hujson")


def nodes() -> tuple[Node, ...]:
    return nodes_from_list(NODES)
