"""The device-level access matrix: each destination's compiled filter, read per source device.

For every destination device the engine's compiled packet filter and SSH policy are
read (what the device enforces); a source device gets a cell when one of its addresses
is among a rule's sources. Ports to the device's own addresses are listed as
``tcp:22``; ports to addresses it routes carry the target (``445 → 192.168.1.10``,
``* → internet`` on exit nodes). Each cell names the policy rules behind it through
:class:`tailcfg.policy.evaluate.provenance.Provenance`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS, Addr, IntervalSet, parse_range
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.evaluate.world import World, node_addrs
from tailcfg.policy.graph.model import Cell, Matrix, Origin, origin_of, ranges_text
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import Policy
from tailcfg.policy.model.ports import PortError, parse_dst

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}
NONROOT_PROBE = "tailcfg-nonroot"  # a login no sshUsers map names
INTERNET = "0.0.0.0/0"  # the stand-in exit node's route, for autogroup:internet
_TAILNET = (addrs.CGNAT, addrs.TAILSCALE_ULA)


def _dst_literals(policy: Policy) -> Iterator[str]:
    hosts = {k: h.value.text.strip() for k, h in policy.hosts.items()}
    names: list[str] = []
    for acl in policy.acls:
        for d in acl.dst:
            try:
                names.append(parse_dst(d.text).alias.strip())
            except PortError:
                continue
    names += [d.text.strip() for g in policy.grants for d in g.dst]
    for name in names:
        literal = hosts.get(name, name)
        if name == "autogroup:internet":
            yield INTERNET
        elif addrs.parse_interval(literal) is not None:
            yield literal


def world_for(policy: Policy, nodes: Sequence[Node] | None) -> World:
    """The devices of the matrix: ``nodes`` (or stand-ins for identities) plus routers."""
    return World(policy, nodes, dst_literals=sorted(set(_dst_literals(policy))))


ALLOW_ALL = "default allow-all (no acls or grants)"


def _origin(ref: RuleRef) -> Origin:
    if ref.section not in ("acls", "grants", "ssh"):
        return origin_of(ALLOW_ALL, -1, ref.span)
    return origin_of(ref.section, ref.index, ref.span)


def _protos_text(protos: frozenset[int]) -> str:
    if protos == DEFAULT_PROTOS:
        return ""
    return "/".join(PROTO_NAMES.get(p, str(p)) for p in sorted(protos))


class _CellAcc:
    def __init__(self) -> None:
        self.ports: dict[tuple[str, frozenset[int]], list[tuple[int, int]]] = {}
        self.ssh: dict[str, None] = {}
        self.origins: set[Origin] = set()

    def cell(self) -> Cell:
        labels = []
        for (target, protos), ranges in sorted(self.ports.items(), key=_port_order):
            proto = _protos_text(protos)
            text = ranges_text(ranges)
            text = f"{proto}:{text}" if proto else text
            labels.append(f"{text} → {target}" if target else text)
        return Cell(tuple(labels), tuple(self.ssh), tuple(sorted(self.origins)))


def _port_order(item: tuple[tuple[str, frozenset[int]], Any]) -> tuple[str, str, int]:
    (target, protos), ranges = item
    return (target, _protos_text(protos), min(a for a, _ in ranges))


class _Builder:
    def __init__(self, world: World, nodes: Sequence[Node], sources: Sequence[Node]) -> None:
        self.world = world
        self.nodes = nodes
        self.sources = sources
        self.addrs = {n.name: node_addrs(n) for n in nodes}
        self.acc: dict[tuple[str, str], _CellAcc] = {}
        self.ssh_memo: dict[tuple[str, tuple[str, ...], str, str], list[Origin]] = {}
        # Grants with ``via`` (not in Provenance): origin, source devices, via routers.
        self.via = [
            (
                origin_of("grants", g.index, g.span),
                {n.name for r in g.src for n in world.devices(r.text)},
                {n.name for r in g.via for n in world.resolver.devices_for(r.text.strip())},
            )
            for g in world.policy.grants
            if g.via
        ]

    def _ssh_origins(self, addr: Addr, src: Node, dst: Node, login: str) -> list[Origin]:
        """SSH rules letting src in as login. SSH sources are identities, never addresses,
        so devices of one identity share the answer (cached: one lookup per identity)."""
        key = ((src.user or "").lower(), src.tags, dst.name, login)
        hit = self.ssh_memo.get(key)
        if hit is None:
            refs = self.world.provenance.ssh_granting(addr, src, dst, login)
            hit = self.ssh_memo[key] = [_origin(ref) for ref, _ in refs]
        return hit

    def _via_origins(self, src: Node, dst: Node) -> list[Origin]:
        return [o for o, srcs, vias in self.via if src.name in srcs and dst.name in vias]

    def _cell(self, src: Node, dst: Node) -> _CellAcc:
        return self.acc.setdefault((src.name, dst.name), _CellAcc())

    def _targets(self, dst: Node, ivs: Sequence[addrs.Interval]) -> list[tuple[str, Addr]]:
        """(target, an address in it) for one DstPorts IP: the device itself, its routes."""
        out: list[tuple[str, Addr]] = []
        for family, value in self.addrs[dst.name]:
            if any(f == family and lo <= value <= hi for f, lo, hi in ivs):
                out.append(("", (family, value)))
        for route in self.world.resolver.approved_routes(dst):
            riv = addrs.parse_interval(route)
            if riv is None:
                continue
            for iv in ivs:
                if not addrs.overlaps(riv, iv) or any(addrs.contains(t, iv) for t in _TAILNET):
                    continue
                lo, hi = max(riv[1], iv[1]), min(riv[2], iv[2])
                if dst.name in self.world.standins:
                    target = ""  # a stand-in router is the route
                elif addrs.is_exit_route(route):
                    target = "internet"
                else:
                    target = addrs.render((riv[0], lo, hi))
                out.append((target, (riv[0], lo)))
        return list(dict.fromkeys(out))

    def ip_access(self, dst: Node, packet_filter: Sequence[Mapping[str, Any]]) -> None:
        prov = self.world.provenance
        for rule in packet_filter:
            srcs = IntervalSet.from_specs(rule.get("SrcIPs") or ())
            protos = frozenset(int(p) for p in rule.get("IPProto") or ()) or DEFAULT_PROTOS
            seen: set[tuple[str, int, int]] = set()
            for dp in rule.get("DstPorts") or ():
                ports = dp.get("Ports") or {}
                first, last = int(ports.get("First", 0)), int(ports.get("Last", 65535))
                for target, probe in self._targets(dst, parse_range(str(dp.get("IP", "")))):
                    if (target, first, last) in seen:
                        continue
                    seen.add((target, first, last))
                    for src in self.sources:
                        addr = next(
                            (a for a in self.addrs[src.name] if a[0] == probe[0] and a in srcs),
                            None,
                        )
                        if addr is None:
                            continue
                        acc = self._cell(src, dst)
                        acc.ports.setdefault((target, protos), []).append((first, last))
                        refs = prov.granting(
                            addr,
                            probe,
                            first,
                            protos,
                            src_node=src,
                            dst_node=None if target else dst,
                        )
                        acc.origins.update(_origin(r) for r in refs)
                        if not refs and target:
                            acc.origins.update(self._via_origins(src, dst))

    def ssh_access(self, dst: Node, rules: Sequence[Mapping[str, Any]]) -> None:
        for rule in rules:
            action = rule.get("action") or {}
            if not action or action.get("reject"):
                continue
            check = " (check)" if action.get("holdAndDelegate") else ""
            specs = [str(p["nodeIP"]) for p in rule.get("principals") or () if p.get("nodeIP")]
            anyone = any(p.get("any") for p in rule.get("principals") or ())
            principals = IntervalSet.from_specs(specs)
            logins = [k for k, v in (rule.get("sshUsers") or {}).items() if v]
            for src in self.sources:
                addr = next((a for a in self.addrs[src.name] if anyone or a in principals), None)
                if addr is None:
                    continue
                acc = self._cell(src, dst)
                for login in logins:
                    shown = "nonroot" if login == "*" else login
                    acc.ssh[f"{shown}{check}"] = None
                    probe = NONROOT_PROBE if login == "*" else login
                    acc.origins.update(self._ssh_origins(addr, src, dst, probe))


def _label(world: World, node: Node, hosts: Mapping[str, str]) -> str:
    label = world.label(node)
    if node.name in world.standins and label in hosts:
        return f"{hosts[label]} ({label})"
    return label


def build_matrix(world: World, *, topology: bool) -> Matrix:
    """Devices x devices (stand-ins read as their identity); see the module docstring."""
    nodes = [n for n in world.nodes if not (topology and n.name in world.standins)]
    sources = [n for n in nodes if n.tags or n.user]
    builder = _Builder(world, nodes, sources)
    compiled = world.compiled
    for dst in nodes:
        view = compiled.nodes[dst.name]
        builder.ip_access(dst, view.packet_filter)
        builder.ssh_access(dst, view.ssh_policy.get("rules") or ())
    by_addr = {h.value.text.strip(): name for name, h in world.policy.hosts.items()}
    by_addr[INTERNET] = "autogroup:internet"
    labels = {n.name: _label(world, n, by_addr) for n in nodes}
    cells = {
        (labels[s], labels[d]): acc.cell()
        for (s, d), acc in builder.acc.items()
        if acc.ports or acc.ssh
    }
    return Matrix(
        rows=tuple(labels[n.name] for n in sources),
        cols=tuple(labels[n.name] for n in nodes),
        cells=cells,
    )
