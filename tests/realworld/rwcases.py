"""Helpers for the real-world construct tests: lint, compile and test small policies.

The policies in these tests are written here, one per construct that live policies use
(learned from a collection of public tailnet policy files, kept outside the repository):
each asserts the lint verdict and, where the policy compiles, the wire output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tailcfg.policy.compile.engine import compile_policy, load_policy
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.evaluate.verdicts import TestReport as Report
from tailcfg.policy.model.nodes import Node, nodes_from_list
from tailcfg.policy.validate.lint import lint_text

PATH = "policy.hujson"

# A small tailnet: two users (alice is an admin), a server, a recorder, a router.
DEVICES: list[dict[str, Any]] = [
    {
        "name": "laptop",
        "user": "alice@example.com",
        "roles": ["admin"],
        "ipv4": "100.64.0.1",
        "ipv6": "fd7a:115c:a1e0::1",
    },
    {"name": "phone", "user": "bob@example.com", "ipv4": "100.64.0.2", "ipv6": "fd7a:115c:a1e0::2"},
    {"name": "dao", "tags": ["tag:server"], "ipv4": "100.64.0.10", "ipv6": "fd7a:115c:a1e0::a"},
    {"name": "rec", "tags": ["tag:recorder"], "ipv4": "100.64.0.20", "ipv6": "fd7a:115c:a1e0::14"},
]
WEB_VIPS = ["100.100.5.7", "fd7a:115c:a1e0::57"]


def devices(services: Sequence[Mapping[str, Any]] | None = None) -> tuple[Node, ...]:
    return nodes_from_list(DEVICES, list(services) if services is not None else None)


def findings(text: str) -> list[tuple[str, str, str, int, int]]:
    """Every lint diagnostic as (severity, code, message, line, col)."""
    result = lint_text(text, PATH)
    return [
        (d.severity.value, d.code, d.message, d.span.line, d.span.col)
        for d in result.diagnostics
        if not d.code.startswith("unused-")  # declaration hygiene is not under test here
    ]


def codes(text: str) -> list[tuple[str, str]]:
    """Every lint diagnostic as (severity, code)."""
    return [(sev, code) for sev, code, *_ in findings(text)]


def compiled(text: str, nodes: Sequence[Node]) -> dict[str, Any]:
    policy = load_policy(text, PATH)
    result: dict[str, Any] = compile_policy(policy, nodes).to_json()["nodes"]
    return result


def policy_tests(text: str, nodes: Sequence[Node] | None = None) -> Report:
    return run_tests(load_policy(text, PATH), nodes)


def verdicts(report: Report) -> list[tuple[bool, str]]:
    return [(r.passed, r.reason) for r in report.results]
