"""The access graph of a policy: who may reach what, and which rule says so.

Public API::

    build_graph(policy, nodes=None) -> AccessGraph
    graph_file(policy_path, *, nodes_path=None) -> AccessGraph     (reads, loads, validates)

Two views, both computed by the engine:

- **edges** (rule level): identities as the policy names them (users, groups, tags,
  autogroups, hosts, addresses, ``*``) to destinations, with their ports/protocols; SSH
  edges are separate (kind ``ssh``, labelled with action and logins), and ``app``
  capabilities of grants are labelled ``app:<capability>``. One edge per (source,
  destination, kind): rules naming the same pair are merged and all of them are listed.
- **matrix** (device level, :mod:`tailcfg.policy.graph.matrix`): every device as a source
  against every device as a destination, from each destination's *compiled* packet filter
  and SSH policy — what the devices would enforce. Without ``nodes`` the devices are the
  engine's stand-ins: one per user and tag of the policy, and one router per host or
  address a rule names as a destination.

Every edge and every matrix cell carries its :class:`Origin` list (``file:line`` and
``acls[i]``/``grants[i]``/``ssh[i]``). Output is deterministic: sources and destinations
are grouped by kind, then sorted by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tailcfg.errors import TailcfgError
from tailcfg.policy.compile.engine import load_policy, users_of
from tailcfg.policy.compile.resolve import alias_kind
from tailcfg.policy.graph.matrix import build_matrix, world_for
from tailcfg.policy.graph.model import (
    KIND_ORDER,
    AccessGraph,
    Cell,
    Edge,
    Matrix,
    Origin,
    Vertex,
    origin_of,
    ranges_text,
)
from tailcfg.policy.graph.page import render_html
from tailcfg.policy.graph.render import render_dot, render_mermaid, render_svg
from tailcfg.policy.model.nodes import Node, load_nodes
from tailcfg.policy.model.policy import Policy
from tailcfg.policy.model.ports import PortError, parse_ports, split_dst
from tailcfg.textfile import read_text

__all__ = [
    "FORMATS",
    "KIND_ORDER",
    "AccessGraph",
    "Cell",
    "Edge",
    "Matrix",
    "Origin",
    "Vertex",
    "build_graph",
    "graph_file",
    "render_graph",
]

FORMATS = ("html", "svg", "dot", "mermaid")

# ---- rule-level edges --------------------------------------------------------------


class _Edges:
    def __init__(self) -> None:
        self.labels: dict[tuple[str, str, str], dict[str, None]] = {}
        self.origins: dict[tuple[str, str, str], dict[Origin, None]] = {}

    def add(self, src: str, dst: str, kind: str, labels: Sequence[str], origin: Origin) -> None:
        key = (src.strip(), dst.strip(), kind)
        self.labels.setdefault(key, {}).update(dict.fromkeys(labels))
        self.origins.setdefault(key, {})[origin] = None

    def edges(self) -> list[Edge]:
        out = []
        for s, d, k in self.labels:
            labels = tuple(self.labels[(s, d, k)])
            if k == "ip":
                labels = _merge_ports(labels)
            out.append(Edge(s, d, k, labels, tuple(sorted(self.origins[(s, d, k)]))))
        return out


def _merge_ports(labels: Sequence[str]) -> tuple[str, ...]:
    """``tcp:22``, ``tcp:443,80`` -> ``tcp:22,80,443`` (per protocol and ``via``)."""
    merged: dict[tuple[str, str], list[tuple[int, int]]] = {}
    unparsed: list[str] = []
    for label in labels:
        text, sep, via = label.partition(" via ")
        proto, _, spec = text.rpartition(":")
        try:
            ranges = parse_ports(spec)
        except PortError:
            unparsed.append(label)
            continue
        merged.setdefault((proto, sep + via), []).extend(ranges)
    out = [
        f"{proto}{':' if proto else ''}{ranges_text(r)}{via}"
        for (proto, via), r in sorted(merged.items())
    ]
    return tuple(out + unparsed)


def _acl_edges(policy: Policy, out: _Edges) -> None:
    for acl in policy.acls:
        if acl.action != "accept":
            continue
        origin = origin_of("acls", acl.index, acl.span)
        proto = acl.proto.text.strip() if acl.proto is not None else ""
        for dst in acl.dst:
            try:
                alias, ports = split_dst(dst.text)
            except PortError:
                continue
            label = f"{proto}:{ports}" if proto and proto != "*" else ports
            for src in acl.src:
                out.add(src.text, alias, "ip", [label], origin)


def _grant_edges(policy: Policy, out: _Edges) -> None:
    for g in policy.grants:
        origin = origin_of("grants", g.index, g.span)
        via = ", ".join(v.text.strip() for v in g.via)
        suffix = f" via {via}" if via else ""
        ip_labels = [i.text.strip() + suffix for i in g.ip]
        app_labels = [f"app:{cap}" for cap in sorted(g.app)]
        for src in g.src:
            for dst in g.dst:
                if ip_labels:
                    out.add(src.text, dst.text, "ip", ip_labels, origin)
                if app_labels:
                    out.add(src.text, dst.text, "app", app_labels, origin)


def _ssh_edges(policy: Policy, out: _Edges) -> None:
    for rule in policy.ssh:
        if rule.action not in ("accept", "check"):
            continue
        origin = origin_of("ssh", rule.index, rule.span)
        labels = [f"{rule.action} {u.text.strip()}" for u in rule.users]
        for src in rule.src:
            for dst in rule.dst:
                out.add(src.text, dst.text, "ssh", labels, origin)


def _kind(name: str) -> str:
    kind = str(alias_kind(name))
    return kind if kind in KIND_ORDER else "ip"


def _sort_key(v: Vertex) -> tuple[int, str]:
    return (KIND_ORDER.index(v.kind), v.name.lower())


def _members(policy: Policy, name: str, devices: Sequence[str]) -> tuple[str, ...]:
    if name in policy.groups:
        found = tuple(m.text.strip() for m in policy.groups[name].members)
    elif name in policy.hosts:
        found = (policy.hosts[name].value.text.strip(),)
    elif name in policy.tag_owners:
        found = tuple(f"owner {m.text.strip()}" for m in policy.tag_owners[name].members)
    else:
        found = ()
    return found + tuple(f"device {d}" for d in devices if d not in found)


def _vertices(
    policy: Policy, names: Sequence[str], device_names: dict[str, tuple[str, ...]]
) -> tuple[Vertex, ...]:
    out = [
        Vertex(n, _kind(n), _members(policy, n, device_names.get(n, ())))
        for n in dict.fromkeys(names)
    ]
    return tuple(sorted(out, key=_sort_key))


def _edge_key(e: Edge) -> tuple[int, str, int, str]:
    kinds = ("ip", "app", "ssh")
    return (KIND_ORDER.index(_kind(e.src)), e.src.lower(), kinds.index(e.kind), e.dst.lower())


def build_graph(policy: Policy, nodes: Sequence[Node] | None = None) -> AccessGraph:
    """The access graph and matrix of ``policy`` (on ``nodes`` when given)."""
    collected = _Edges()
    _acl_edges(policy, collected)
    _grant_edges(policy, collected)
    _ssh_edges(policy, collected)
    edges = sorted(collected.edges(), key=_edge_key)
    world = world_for(policy, nodes)
    aliases = {e.src for e in edges} | {e.dst for e in edges}
    device_names = {
        a: tuple(world.label(n) for n in world.devices(a) if n.name not in world.standins)
        for a in sorted(aliases)
        if _kind(a) not in ("host", "ip")
    }
    notes: list[str] = []
    if not policy.has_acls and not policy.has_grants:
        notes.append("the policy has no acls or grants: every device may reach every other")
    return AccessGraph(
        path=policy.path,
        sources=_vertices(policy, [e.src for e in edges], device_names),
        destinations=_vertices(policy, [e.dst for e in edges], device_names),
        edges=tuple(edges),
        matrix=build_matrix(world, topology=nodes is not None),
        topology=nodes is not None,
        notes=tuple(notes),
    )


def graph_file(policy_path: str | Path, *, nodes_path: str | Path | None = None) -> AccessGraph:
    """Read a policy (and a ``--nodes`` topology), load and validate it, build its graph."""
    path = Path(policy_path)
    text = read_text(path, "policy")
    nodes = load_nodes(nodes_path) if nodes_path is not None else None
    policy = load_policy(text, str(path), users=users_of(nodes) if nodes else ())
    return build_graph(policy, nodes)


def render_graph(graph: AccessGraph, fmt: str) -> str:
    """The graph as ``html``, ``svg``, ``dot`` or ``mermaid`` text."""
    renderers = {
        "html": render_html,
        "svg": render_svg,
        "dot": render_dot,
        "mermaid": render_mermaid,
    }
    if fmt not in renderers:
        raise TailcfgError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt](graph)
