"""Why is a connection allowed or denied? The verdict, the rules behind it, near misses.

    explain(policy, src, dst, port, *, proto=None, nodes=None, ssh_login=None) -> Explanation

``src``/``dst`` are what a test may name (user, group, tag, host, IP; ``dst`` also
``autogroup:self``) or, with ``nodes``, a device name. The verdict is read from the
destination device's compiled packet filter (or SSH policy with ``ssh_login``), as in
``run_tests``; every granting rule is named with its file:line, and when nothing grants,
the nearest misses: rules that match all but the protocol, the port, the source or the
destination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailcfg.errors import TailcfgError
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.evaluate.packets import dst_targets, reaches, src_points
from tailcfg.policy.evaluate.provenance import Miss, Provenance
from tailcfg.policy.evaluate.spec import (
    Dst,
    Kind,
    check_src,
    classify,
    parse_proto,
    single_host_ip,
)
from tailcfg.policy.evaluate.verdicts import Outcome, RuleRef
from tailcfg.policy.evaluate.world import Holder, SrcPoint, World, node_addrs
from tailcfg.policy.model.nodes import Node, load_nodes
from tailcfg.policy.model.policy import Policy
from tailcfg.textfile import read_text


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """One source device (or address) to one destination device."""

    src: str
    dst: str
    allowed: bool
    checked: bool = False


@dataclass(frozen=True, slots=True)
class Explanation:
    src: str
    dst: str
    port: int
    proto: str | None
    login: str | None
    verdict: Outcome
    partial: bool
    rules: tuple[RuleRef, ...]
    misses: tuple[Miss, ...]
    pairs: tuple[PairVerdict, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "src": self.src,
            "dst": self.dst,
            "port": self.port,
            "proto": self.proto,
            "login": self.login,
            "verdict": self.verdict.value,
            "partial": self.partial,
            "rules": [_rule_json(r) for r in self.rules],
            "misses": [
                {**_rule_json(m.rule), "lacks": m.lacks, "detail": m.detail} for m in self.misses
            ],
            "pairs": [
                {"src": p.src, "dst": p.dst, "allowed": p.allowed, "checked": p.checked}
                for p in self.pairs
            ],
        }


def _rule_json(r: RuleRef) -> dict[str, Any]:
    span = r.span
    return {
        "rule": r.name,
        "path": span.path if span else None,
        "line": span.line if span else None,
        "col": span.col if span else None,
    }


def _device(world: World, name: str) -> Node | None:
    if not world.topology:
        return None
    return next((n for n in world.nodes if n.name == name and n.name not in world.standins), None)


def _sources(world: World, src: str) -> list[SrcPoint]:
    node = _device(world, src)
    if node is not None:
        return [SrcPoint(node.name, node_addrs(node), node)]
    alias = check_src(src, world.names)
    if isinstance(alias, str):
        raise TailcfgError(f"explain: {alias}")
    points = src_points(alias, world)
    if isinstance(points, str):
        raise TailcfgError(f"explain: {points}")
    return points


def _targets(world: World, dst: str, port: int, sp: SrcPoint) -> list[list[Holder]]:
    node = _device(world, dst)
    if node is not None:
        return [[world.device_holder(node)]]
    alias = classify(dst)
    if alias.kind is Kind.HOST and dst not in world.names.hosts:
        raise TailcfgError(f"explain: dst {dst!r}: no such host or device")
    if alias.kind is Kind.TAG and dst not in world.names.tags:
        raise TailcfgError(f'explain: dst="{dst}": tag not found: "{dst}"')
    if alias.kind in (Kind.USER, Kind.GROUP, Kind.AUTOGROUP) and dst != "autogroup:self":
        return [[world.device_holder(n)] for n in world.devices(dst)]
    if alias.kind is Kind.HOST and single_host_ip(world.names.hosts[dst]) is None:
        raise TailcfgError(f"explain: dst {dst!r} is a network, not one host")
    return dst_targets(Dst(alias, port), world, sp)


def _literal(policy: Policy, dst: str) -> list[str]:
    alias = classify(dst)
    if alias.kind is Kind.IP:
        return [dst]
    host = policy.hosts.get(dst)
    ip = single_host_ip(host.value.text) if host is not None else None
    return [ip] if ip else []


def explain(
    policy: Policy,
    src: str,
    dst: str,
    port: int,
    *,
    proto: str | None = None,
    nodes: Sequence[Node] | None = None,
    ssh_login: str | None = None,
) -> Explanation:
    """Explain one connection (or, with ``ssh_login``, one SSH login)."""
    protos = parse_proto(proto)
    if isinstance(protos, str):
        raise TailcfgError(f"explain: {protos}")
    world = World(policy, nodes, dst_literals=_literal(policy, dst))
    prov = world.provenance
    rules: dict[RuleRef, None] = {}
    misses: dict[tuple[RuleRef, str], Miss] = {}
    pairs: list[PairVerdict] = []
    for sp in _sources(world, src):
        for target in _targets(world, dst, port, sp):
            if ssh_login is not None:
                pairs.extend(_ssh_pair(world, prov, sp, target, ssh_login, rules, misses))
                continue
            pair = _net_pair(world, prov, sp, target, port, protos, rules, misses)
            pairs.append(pair)
    if not pairs:
        raise TailcfgError(f"explain: {dst!r} has no devices")
    allowed = [p for p in pairs if p.allowed]
    verdict = Outcome.DENY
    if allowed:
        checked = all(p.checked for p in allowed) and ssh_login is not None
        verdict = Outcome.CHECK if checked else Outcome.ACCEPT
    return Explanation(
        src=src,
        dst=dst,
        port=port,
        proto=proto,
        login=ssh_login,
        verdict=verdict,
        partial=bool(allowed) and len(allowed) < len(pairs),
        rules=tuple(rules),
        misses=() if len(allowed) == len(pairs) else tuple(misses.values()),
        pairs=tuple(pairs),
    )


def _net_pair(
    world: World,
    prov: Provenance,
    sp: SrcPoint,
    target: list[Holder],
    port: int,
    protos: frozenset[int],
    rules: dict[RuleRef, None],
    misses: dict[tuple[RuleRef, str], Miss],
) -> PairVerdict:
    label = world.label(target[0].node) if target else "?"
    for holder in target:
        hit = reaches(world, sp, holder, port, protos)
        if hit is not None:
            s, d = hit
            found = prov.granting(s, d, port, protos, src_node=sp.node, dst_node=holder.node)
            rules.update(dict.fromkeys(found))
            return PairVerdict(sp.label, world.label(holder.node), True)
    for holder in target:
        for s in sp.addrs:
            for d in holder.addrs:
                if s[0] != d[0]:
                    continue
                for m in prov.misses(s, d, port, protos, src_node=sp.node, dst_node=holder.node):
                    misses[(m.rule, m.lacks)] = m
    return PairVerdict(sp.label, label, False)


def _ssh_pair(
    world: World,
    prov: Provenance,
    sp: SrcPoint,
    target: list[Holder],
    login: str,
    rules: dict[RuleRef, None],
    misses: dict[tuple[RuleRef, str], Miss],
) -> list[PairVerdict]:
    out = []
    for holder in target:
        matcher = world.ssh(holder.node)
        verdicts = [matcher.verdict(s, login) for s in sp.addrs]
        allowed = any(v.allowed for v in verdicts)
        for s in sp.addrs:
            if allowed:
                for ref, _ in prov.ssh_granting(s, sp.node, holder.node, login):
                    rules.setdefault(ref)
            else:
                for m in prov.ssh_misses(s, sp.node, holder.node, login):
                    misses[(m.rule, m.lacks)] = m
        checked = any(v.checked for v in verdicts)
        out.append(PairVerdict(sp.label, world.label(holder.node), allowed, checked))
    return out


def split_dst_port(text: str, *, default: int | None = None) -> tuple[str, int]:
    """``DST:PORT`` (``[v6]:port`` too) -> (dst, port); ``default`` when no port is given."""
    s = text.strip()
    if s.startswith("[") and "]:" in s:
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    if host and port.isdigit() and 0 < int(port) <= 65535:
        return host, int(port)
    if default is not None:
        return s.strip("[]"), default
    raise TailcfgError(f"explain: {text!r}: expected DST:PORT with one port (1-65535)")


def explain_file(
    policy_path: Path,
    src: str,
    dst_port: str,
    *,
    proto: str | None = None,
    nodes_path: Path | None = None,
    ssh_login: str | None = None,
) -> Explanation:
    """Load and validate a policy file (and ``--nodes``), then :func:`explain`."""
    policy = load_policy(read_text(policy_path, "policy"), str(policy_path))
    nodes = load_nodes(nodes_path) if nodes_path is not None else None
    dst, port = split_dst_port(dst_port, default=22 if ssh_login is not None else None)
    return explain(policy, src, dst, port, proto=proto, nodes=nodes, ssh_login=ssh_login)


def format_explanation(exp: Explanation) -> str:
    """The text ``tailcfg policy explain`` prints."""
    what = f"{exp.src} -> {exp.dst}:{exp.port}"
    if exp.login is not None:
        what = f"{exp.src} -> {exp.dst} as {exp.login} (ssh)"
    elif exp.proto:
        what += f"/{exp.proto}"
    verdict = exp.verdict.value.upper()
    if exp.partial:
        verdict += " (partially: not every device pair)"
    lines = [f"{what}: {verdict}"]
    if exp.rules:
        lines.append("granted by:")
        lines.extend(f"  {r.render()}" for r in exp.rules)
    if exp.verdict is Outcome.DENY or exp.partial:
        if exp.misses:
            lines.append("nearest misses:")
            lines.extend(f"  {m.rule.render()}: lacks {m.lacks} ({m.detail})" for m in exp.misses)
        elif exp.verdict is Outcome.DENY:
            lines.append("no rule matches the source or the destination")
    if len(exp.pairs) > 1 or exp.partial:
        lines.append("devices:")
        for p in exp.pairs:
            mark = "allowed" if p.allowed else "denied"
            lines.append(f"  {p.src} -> {p.dst}: {mark}")
    return "\n".join(lines)


__all__ = [
    "Explanation",
    "PairVerdict",
    "explain",
    "explain_file",
    "format_explanation",
    "split_dst_port",
]
