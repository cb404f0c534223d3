"""Compile the policy for the control plane's devices, keeping the shared peer sets.

Everything is the policy engine's (``compile_policy`` does the same steps); the control
plane only keeps ``peer_sets``' shared frozensets instead of per-device sorted lists, so
that the hub can tell "unchanged" by identity and diff with C-speed set operations
(1,000 devices under the allow-all policy: one union instead of a million inserts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tailcfg.policy.compile.filters import build_rules
from tailcfg.policy.compile.peers import peer_sets
from tailcfg.policy.compile.per_device import FilterCompiler
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.compile.ssh import SshCompiler
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy

Filter = list[dict[str, Any]]


def compile_devices(
    policy: Policy, nodes: Sequence[Node], *, check_url: str
) -> dict[str, tuple[Filter, dict[str, Any], frozenset[str]]]:
    """Per device name: (packet filter, SSH policy, peers — possibly including itself)."""
    resolver = Resolver(policy, nodes)
    compiler = FilterCompiler(build_rules(policy, resolver), resolver)
    filters = {n.name: compiler.node_filter(n) for n in resolver.nodes}
    peers = peer_sets(resolver, filters, compiler.via_pairs())
    ssh = SshCompiler(policy, resolver, check_url=check_url)
    return {n.name: (filters[n.name], ssh.for_node(n), peers[n.name]) for n in resolver.nodes}
