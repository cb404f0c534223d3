"""compiler.py gives exactly the engine's filters, SSH policies and peers (conformance corpus)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tailcfg.control.compiler import compile_devices
from tailcfg.errors import TailcfgError
from tailcfg.policy.compile.engine import compile_policy, load_policy
from tailcfg.policy.model.nodes import nodes_from_list

DATA = Path(__file__).resolve().parent.parent / "conformance" / "data"


def _cases() -> list[dict[str, Any]]:
    lines = (DATA / "tailscale-saas-captures.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    valid = [c for c in cases if c.get("expect", {}).get("valid") and c.get("nodes")]
    return valid[::4]  # a quarter of the corpus keeps this under a few seconds


def test_same_as_compile_policy_on_valid_captures() -> None:
    compared = 0
    for case in _cases():
        users = [u["email"] for u in case.get("users", [])]
        try:
            policy = load_policy(case["policy"], case["name"], users=users)
            nodes = nodes_from_list(case["nodes"])
            expected = compile_policy(policy, nodes)
        except TailcfgError:
            continue
        got = compile_devices(policy, nodes, check_url="https://unused")
        for name, node in expected.nodes.items():
            packet_filter, ssh_policy, peers = got[name]
            assert (packet_filter, ssh_policy) == (node.packet_filter, node.ssh_policy), name
            assert sorted(peers - {name}) == node.peers, (case["name"], name)
        compared += 1
    if compared == 0:
        pytest.skip("no capture compiles with the current engine")
    assert compared > 50


def test_homelab_example(repo_root: Path) -> None:
    from tailcfg.policy.model.nodes import load_nodes

    homelab = repo_root / "examples" / "homelab"
    policy = load_policy((homelab / "policy.hujson").read_text(encoding="utf-8"), "policy")
    nodes = load_nodes(homelab / "nodes.json")
    expected = compile_policy(policy, nodes).nodes
    got = compile_devices(policy, nodes, check_url="https://unused")
    assert {n: sorted(p[2] - {n}) for n, p in got.items()} == {
        n: c.peers for n, c in expected.items()
    }
