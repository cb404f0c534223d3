"""The policy engine's facade: load (parse + validate) and compile.

    load_policy(text, path="<input>", *, users=()) -> Policy
        Parse HuJSON (HujsonError propagates), run the server-wording checks of
        ``tailcfg.policy.validate.validator.validate`` and the engine's own compile-time checks;
        raise PolicyError (positioned diagnostics) when the server would reject it.
        ``users`` are the tailnet's logins (emails), in the server's user-id order.

    compile_policy(policy, nodes, *, check_url="https://unused") -> CompiledPolicy
        Every device's packet filter (tailcfg.FilterRule list, JSON-ready), SSH policy
        (``{"rules": [...]}``) and visible peers. ``check_url`` is the control server's
        base URL for SSH ``check`` actions.

    compile_file(policy_path, nodes_path, *, node=None) -> dict
        What ``tailcfg policy compile`` prints: read both files, load, compile, and
        return ``CompiledPolicy.to_json()`` (only ``node`` when given).

    resolver(policy, nodes) -> Resolver
        The alias resolver behind compile (see :mod:`tailcfg.policy.compile.resolve`), for
        evaluation, explain, diff and graph.

Lower layers, for callers that compile device by device (the control plane):
``filters.build_rules(policy, resolver)`` (tailnet-wide rules),
``per_device.FilterCompiler(rules, resolver).node_filter(node)`` and ``.via_pairs()``,
``ssh.SshCompiler(policy, resolver, check_url=...).for_node(node)``,
``peers.peer_sets(resolver, filters, via_pairs)`` (shared frozensets).

Compile is deterministic and indexes devices once; its cost grows with the size of
its output, not with devices x rules. Peers are bitmasks shared per identity, and
devices share one ``SrcIPs`` list per merged rule and one peers list per distinct set
(treat compiled values as read-only), so for a fixed policy the time grows linearly
with the number of devices (``bench/bench_policy.py`` prints the figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tailcfg import hujson
from tailcfg.errors import PolicyError, TailcfgError
from tailcfg.policy.compile.checks import check_policy
from tailcfg.policy.compile.compiled import CompiledNode, CompiledPolicy
from tailcfg.policy.compile.per_device import compile_nodes
from tailcfg.policy.compile.resolve import Resolver
from tailcfg.policy.model.nodes import Node, load_nodes
from tailcfg.policy.model.parse import build_policy
from tailcfg.policy.model.policy import Policy
from tailcfg.policy.model.ports import PortError
from tailcfg.policy.validate.validator import validate
from tailcfg.source import Diagnostic, Severity
from tailcfg.textfile import read_text

__all__ = [
    "CompiledNode",
    "CompiledPolicy",
    "Policy",
    "Resolver",
    "compile_file",
    "compile_policy",
    "load_policy",
    "resolver",
]

DEFAULT_CHECK_URL = "https://unused"


def load_policy(text: str, path: str = "<input>", *, users: Sequence[str] = ()) -> Policy:
    """Parse and validate a policy file; raise PolicyError as the server would reject it."""
    doc = hujson.parse(text, path)
    errors = [d for d in validate(doc, users=tuple(users)) if d.severity is Severity.ERROR]
    if errors:
        raise PolicyError(errors)
    policy = build_policy(doc, users=users)
    check_policy(policy)
    return policy


def resolver(policy: Policy, nodes: Sequence[Node]) -> Resolver:
    """The alias resolver for these devices (index built once)."""
    return Resolver(policy, nodes)


def compile_policy(
    policy: Policy, nodes: Sequence[Node], *, check_url: str = DEFAULT_CHECK_URL
) -> CompiledPolicy:
    """Compile every device's packet filter, SSH policy and peers."""
    try:
        return compile_nodes(policy, Resolver(policy, nodes), check_url=check_url)
    except PortError as exc:
        span = policy.span
        if span is None:
            raise
        raise PolicyError([Diagnostic(span, str(exc), code="invalid-port")]) from None


def users_of(nodes: Sequence[Node]) -> tuple[str, ...]:
    """The owners' logins of untagged devices, in first-seen order."""
    seen: dict[str, None] = {}
    for n in nodes:
        if n.user and not n.tags:
            seen.setdefault(n.user)
    return tuple(seen)


def compile_file(
    policy_path: str | Path, nodes_path: str | Path, *, node: str | None = None
) -> dict[str, Any]:
    """Load and compile a policy file for a ``--nodes`` topology; JSON-ready."""
    path = Path(policy_path)
    text = read_text(path, "policy")
    nodes = load_nodes(nodes_path)
    if node is not None and all(n.name != node for n in nodes):
        raise TailcfgError(f"{nodes_path}: no node named {node!r}")
    policy = load_policy(text, str(path), users=users_of(nodes))
    compiled = compile_policy(policy, nodes)
    out: dict[str, Any] = (
        {"nodes": {node: compiled.nodes[node].to_json()}}
        if node is not None
        else compiled.to_json()
    )
    skipped = skipped_destinations(policy, Resolver(policy, nodes))
    if skipped:
        out["skipped"] = skipped
    return out


def skipped_destinations(policy: Policy, r: Resolver) -> list[dict[str, str]]:
    """Service destinations compiled to nothing: no device in the topology hosts them.

    A grant to ``svc:web`` reaches the service's virtual addresses on its hosts; when the
    devices file declares no host for it (its ``services`` list), the destination is left
    out of every filter, and this says so instead of dropping it silently.
    """
    out: list[dict[str, str]] = []
    rules = [("grants", g.index, g.dst, False) for g in policy.grants]
    rules += [("acls", a.index, a.dst, True) for a in policy.acls]
    for section, index, dsts, has_ports in rules:
        for ref in dsts:
            alias = ref.text.strip()
            if has_ports:
                alias = alias.rpartition(":")[0]
            if alias.startswith("svc:") and not r.service_intervals(alias):
                out.append(
                    {
                        "at": ref.span.render(),
                        "rule": f"{section}[{index}]",
                        "alias": alias,
                        "reason": f"no device hosts {alias} in the devices file (its services "
                        "list gives a service's addresses and hosts)",
                    }
                )
    return out
