"""Replay one conformance capture through the engine and compare with the server's answer.

Used by ``test_conformance.py`` and ``report.py``; knows nothing about any single case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailcfg.errors import HujsonError, PolicyError
from tailcfg.policy.compile.engine import compile_policy, load_policy
from tailcfg.policy.evaluate.run import run_tests
from tailcfg.policy.model.nodes import nodes_from_list

DATA = Path(__file__).resolve().parent / "data" / "tailscale-saas-captures.jsonl"
KNOWN = Path(__file__).resolve().parent / "known_differences.md"
TEST_CATEGORIES = frozenset({"policytest", "sshtest"})


@dataclass(frozen=True)
class Outcome:
    agree: bool
    reason: str = ""
    needs_evaluate: bool = False


def load_cases() -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def active_cases() -> list[dict[str, Any]]:
    return [c for c in load_cases() if not c["expect"].get("capture_error")]


def known_differences() -> dict[str, str]:
    """Case name -> reason, from the ``- `name`: reason`` lines of known_differences.md."""
    out: dict[str, str] = {}
    if not KNOWN.exists():
        return out
    for line in KNOWN.read_text(encoding="utf-8").splitlines():
        if line.startswith("- `") and "`:" in line:
            name, _, reason = line[3:].partition("`:")
            out[name] = reason.strip()
    return out


def _norm_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out = dict(rule)
    out["SrcIPs"] = sorted(rule.get("SrcIPs") or [])
    return out


def _diff_filters(got: list[dict[str, Any]], want: list[dict[str, Any]] | None) -> str:
    want = want or []
    if [_norm_rule(r) for r in got] == [_norm_rule(r) for r in want]:
        return ""
    return f"packet filter differs:\n got: {json.dumps(got)}\nwant: {json.dumps(want)}"


def _norm_ssh(rule: dict[str, Any]) -> dict[str, Any]:
    out = dict(rule)
    out["principals"] = sorted(json.dumps(p, sort_keys=True) for p in rule.get("principals") or [])
    return out


def _diff_ssh(got: list[dict[str, Any]], want: list[dict[str, Any]] | None) -> str:
    want = want or []
    if [_norm_ssh(r) for r in got] == [_norm_ssh(r) for r in want]:
        return ""
    return f"ssh rules differ:\n got: {json.dumps(got)}\nwant: {json.dumps(want)}"


def _users(case: dict[str, Any]) -> list[str]:
    users = sorted(case.get("users") or [], key=lambda u: u.get("id", 0))
    return [u["email"] for u in users if u.get("email")]


def evaluate_case(case: dict[str, Any]) -> Outcome:
    """Compare the engine with one capture; ``reason`` explains a disagreement."""
    expect = case["expect"]
    try:
        policy = load_policy(case["policy"], "policy.hujson", users=_users(case))
    except (PolicyError, HujsonError) as exc:
        if expect["valid"]:
            return Outcome(False, f"rejected a valid policy: {exc.diagnostic.message}")
        want = expect.get("error_message") or ""
        got = exc.diagnostic.message
        if got == want or (case["category"] in TEST_CATEGORIES and want == "test(s) failed"):
            return Outcome(True)
        return Outcome(False, f"error differs: got {got!r}, want {want!r}")
    nodes = nodes_from_list(case["nodes"])
    needs = bool(policy.tests or policy.ssh_tests)
    if needs:
        passed = run_tests(policy, nodes).passed
        if passed != expect["valid"]:
            return Outcome(False, f"tests verdict differs (server valid={expect['valid']})")
        if not expect["valid"]:
            return Outcome(True)
    if not expect["valid"]:
        return Outcome(False, f"accepted a rejected policy ({expect.get('error_message')!r})")
    compiled = compile_policy(policy, nodes)
    problems = []
    for name, want in (expect.get("per_node") or {}).items():
        node = compiled.nodes.get(name)
        if node is None:
            problems.append(f"{name}: missing")
            continue
        d = _diff_filters(node.packet_filter, want.get("packet_filter_rules"))
        d += _diff_ssh(node.ssh_policy["rules"], want.get("ssh_rules"))
        if "peers" in want:
            peers = sorted(p["name"] for p in want.get("peers") or [])
            if node.peers != peers:
                d += f"peers differ: got {node.peers}, want {peers}"
        if d:
            problems.append(f"{name}: {d}")
    return Outcome(not problems, "\n".join(problems))


def iter_outcomes() -> Iterator[tuple[dict[str, Any], Outcome]]:
    for case in active_cases():
        yield case, evaluate_case(case)
