"""Which rules of the policy file grant a connection, and which ones nearly do.

The verdict of a test comes from the destination device's compiled filter; this module
names the policy rules behind it (``acls[i]`` / ``grants[i]`` / ``ssh[i]`` with their
spans), and for ``explain`` the nearest misses: rules that match the source but not the
port, the destination but not the source, and so on.

Each ACL destination (or grant ``ip`` spec x destination) is one entry. An index built
on the first :meth:`Provenance.granting` maps a destination address to its candidate
entries (those whose alias holds the address, plus ``*`` and ``autogroup:self``), and a
(destination, port) pair to the candidates whose ports hold the port; each call then
checks only protocols and the source. Sources are resolved per alias on first use, as
hashed device addresses plus bisected ranges (no merging).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from tailcfg.policy.compile.resolve import AddrSet, Resolver
from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS, Addr, login_allowed
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.model import addrs
from tailcfg.policy.model.nodes import Node
from tailcfg.policy.model.policy import AclRule, Grant, Policy, SshRule
from tailcfg.policy.model.ports import PortError, parse_dst, parse_ip_spec, parse_proto

SELF = "autogroup:self"
ANY = "*"
Ports = tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Miss:
    """A rule that does not grant the connection, and the one thing it lacks."""

    rule: RuleRef
    lacks: str  # "proto", "port", "src", "dst", "login"
    detail: str


class Sources:
    """Membership in a union of addresses: single addresses hashed, ranges bisected.

    Users, groups and tags resolve to device addresses, so a lookup is mostly one set
    probe, and building one costs no sorting or merging.
    """

    __slots__ = ("points", "ranges")

    def __init__(self, points: frozenset[Addr], ranges: AddrSet | None) -> None:
        self.points = points
        self.ranges = ranges

    @classmethod
    def of(cls, ivs: Sequence[addrs.Interval]) -> Sources:
        points = frozenset([(v, lo) for v, lo, hi in ivs if lo == hi])
        wide = [iv for iv in ivs if iv[1] != iv[2]]
        return cls(points, AddrSet(wide) if wide else None)

    @classmethod
    def union(cls, parts: Sequence[Sources]) -> Sources:
        points = frozenset[Addr]().union(*(p.points for p in parts))
        wide = [iv for p in parts if p.ranges is not None for iv in p.ranges.intervals]
        return cls(points, AddrSet(wide) if wide else None)

    def contains_addr(self, version: int, value: int) -> bool:
        if (version, value) in self.points:
            return True
        return self.ranges is not None and self.ranges.contains_addr(version, value)

    def __bool__(self) -> bool:
        return bool(self.points) or self.ranges is not None


@dataclass(slots=True)
class _Net:
    """One (rule, destination alias, port spec) of an ACL or an ``ip`` grant."""

    index: int  # position in Provenance._net: rule order
    section: str
    rule: AclRule | Grant  # its RuleRef (with the span) is made on first use
    src: tuple[str, ...]
    alias: str  # ANY: every address; SELF: the source owner's devices
    ports: Ports
    protos: frozenset[int]
    sources: Sources | None = None  # resolved on first use


def _ports_text(ports: Ports) -> str:
    seen = dict.fromkeys(f"{a}" if a == b else f"{a}-{b}" for a, b in ports)
    return ",".join(seen) or "-"


def _protos(proto: Sequence[int]) -> frozenset[int]:
    return frozenset(proto) if proto else DEFAULT_PROTOS


def _in_ports(port: int, ports: Ports) -> bool:
    return any(a <= port <= b for a, b in ports)


def _same_user(src_node: Node | None, dst_node: Node | None) -> bool:
    return (
        src_node is not None
        and dst_node is not None
        and not src_node.tags
        and not dst_node.tags
        and src_node.user is not None
        and src_node.user.lower() == (dst_node.user or "").lower()
    )


def _nearest(out: list[Miss]) -> list[Miss]:
    """One miss per (rule, lack), port lists joined; near misses first, else the rest."""
    merged: dict[tuple[RuleRef, str], Miss] = {}
    for m in out:
        key = (m.rule, m.lacks)
        prev = merged.get(key)
        if prev is not None and m.lacks == "port" and m.detail != prev.detail:
            m = Miss(m.rule, "port", f"{prev.detail},{m.detail.removeprefix('ports ')}")
        merged[key] = m
    order = {"proto": 0, "port": 1, "src": 2, "dst": 3}
    ranked = sorted(merged.values(), key=lambda m: order[m.lacks])
    near = [m for m in ranked if m.lacks != "dst"]
    return near or ranked


class Provenance:
    """Policy-level matching of ACLs and grants (``ip``; not ``via`` or ``app``)."""

    def __init__(self, policy: Policy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.allow_all = not policy.has_acls and not policy.has_grants
        self._srcsets: dict[tuple[str, ...], Sources] = {}
        self._alias_srcs: dict[str, Sources] = {}
        self._dsts: dict[str, Sources] = {}  # destination alias -> its addresses
        self._net: list[_Net] = []
        self._refs: dict[int, RuleRef] = {}
        for acl in policy.acls:
            if acl.action == "accept":
                self._acl(acl)
        for g in policy.grants:
            if not g.via:
                self._grant(g)
        self._indexed = False
        self._by_alias: dict[str, list[int]] = {}
        self._broad: list[int] = []  # ANY and SELF entries: candidates everywhere
        self._by_addr: dict[Addr, list[str]] = {}  # device address -> aliases holding it
        self._wide: list[tuple[str, AddrSet]] = []  # aliases holding ranges
        self._at: dict[Addr, list[_Net]] = {}  # destination -> candidates in rule order
        self._at_port: dict[tuple[Addr, int], list[_Net]] = {}

    def _acl(self, acl: AclRule) -> None:
        ref = ("acls", acl)
        try:
            protos = _protos(parse_proto(acl.proto.text) if acl.proto is not None else ())
            specs = [parse_dst(d.text) for d in acl.dst]
        except PortError:
            return
        srcs = tuple(r.text.strip() for r in acl.src)
        for spec in specs:
            self._add(ref, srcs, spec.alias.strip(), spec.ports, protos)

    def _grant(self, g: Grant) -> None:
        ref: tuple[str, AclRule | Grant] = ("grants", g)
        try:
            specs = [parse_ip_spec(i.text) for i in g.ip]
        except PortError:
            return
        srcs = tuple(r.text.strip() for r in g.src)
        for spec in specs:
            for d in g.dst:
                self._add(ref, srcs, d.text.strip(), spec.ports, _protos(spec.proto))

    def _add(
        self,
        ref: tuple[str, AclRule | Grant],
        srcs: tuple[str, ...],
        alias: str,
        ports: Ports,
        protos: frozenset[int],
    ) -> None:
        if not ports:
            return
        if alias not in (ANY, SELF):
            dst = self._dsts.get(alias)
            if dst is None:
                dst = self._dsts[alias] = Sources.of(self.resolver.dst_intervals(alias))
            if not dst:
                return  # names no address: grants nothing, misses nothing
        self._net.append(_Net(len(self._net), *ref, srcs, alias, ports, protos))

    def ref(self, net: _Net) -> RuleRef:
        """The rule of the policy file behind one entry (span computed once)."""
        hit = self._refs.get(id(net.rule))
        if hit is None:
            hit = RuleRef(net.section, net.rule.index, net.rule.span)
            self._refs[id(net.rule)] = hit
        return hit

    def warm(self) -> None:
        """Resolve every rule's sources and build the destination index now."""
        for net in self._net:
            self._src(net)
        self._index()

    # ---- sources ----------------------------------------------------------------

    def _src(self, net: _Net) -> Sources:
        """The addresses of the entry's sources (resolved on first use, per alias list)."""
        hit = net.sources
        if hit is None:
            hit = self._srcsets.get(net.src)
            if hit is None:
                parts = [self._alias_src(alias) for alias in net.src]
                if ANY in net.src:
                    parts.append(self._routes_src())
                hit = parts[0] if len(parts) == 1 else Sources.union(parts)
                self._srcsets[net.src] = hit
            net.sources = hit
        return hit

    def _alias_src(self, alias: str) -> Sources:
        hit = self._alias_srcs.get(alias)
        if hit is None:
            hit = self._alias_srcs[alias] = Sources.of(self.resolver.src_intervals(alias))
        return hit

    def _routes_src(self) -> Sources:
        """``*`` as a source also stands for the approved subnet routes."""
        ivs = [addrs.parse_interval(route) for route in self.resolver.approved_subnet_routes]
        return Sources.of([iv for iv in ivs if iv is not None])

    # ---- destinations -------------------------------------------------------------

    def _index(self) -> None:
        """Entries per destination alias, and aliases per device address (built once)."""
        if self._indexed:
            return
        self._indexed = True
        for net in self._net:
            if net.alias in (ANY, SELF):
                self._broad.append(net.index)
            else:
                self._by_alias.setdefault(net.alias, []).append(net.index)
        for alias in self._by_alias:
            dst = self._dsts[alias]
            for addr in dst.points:
                self._by_addr.setdefault(addr, []).append(alias)
            if dst.ranges is not None:
                self._wide.append((alias, dst.ranges))

    def _candidates(self, dst: Addr) -> list[_Net]:
        """Entries whose destination may hold ``dst``, in rule order."""
        hit = self._at.get(dst)
        if hit is None:
            self._index()
            aliases = list(self._by_addr.get(dst, ()))
            aliases += [alias for alias, ranges in self._wide if ranges.contains_addr(*dst)]
            ids = sorted(chain(self._broad, *(self._by_alias[a] for a in dict.fromkeys(aliases))))
            hit = self._at[dst] = [self._net[i] for i in ids]
        return hit

    def _port_candidates(self, dst: Addr, port: int) -> list[_Net]:
        hit = self._at_port.get((dst, port))
        if hit is None:
            hit = []
            for net in self._candidates(dst):
                for a, b in net.ports:
                    if a <= port <= b:
                        hit.append(net)
                        break
            self._at_port[(dst, port)] = hit
        return hit

    def _dst_ports(
        self, net: _Net, dst: Addr, src_node: Node | None, dst_node: Node | None
    ) -> Ports:
        """The entry's ports if its destination holds ``dst``, else ()."""
        if net.alias == ANY:
            return net.ports
        if net.alias == SELF:
            return net.ports if _same_user(src_node, dst_node) else ()
        return net.ports if self._dsts[net.alias].contains_addr(*dst) else ()

    # ---- queries ------------------------------------------------------------------

    def granting(
        self,
        src: Addr,
        dst: Addr,
        port: int,
        protos: frozenset[int],
        *,
        src_node: Node | None = None,
        dst_node: Node | None = None,
    ) -> list[RuleRef]:
        """The rules that admit src -> dst:port (some protocol of ``protos``)."""
        if self.allow_all:
            return [RuleRef("default allow-all: no acls or grants", -1, self.policy.span)]
        seen: set[int] = set()
        out: list[RuleRef] = []
        for net in self._port_candidates(dst, port):
            if net.protos.isdisjoint(protos) or id(net.rule) in seen:
                continue
            if net.alias == SELF and not _same_user(src_node, dst_node):
                continue
            sources = net.sources
            if sources is None:
                sources = self._src(net)
            if src in sources.points or (
                sources.ranges is not None and sources.ranges.contains_addr(*src)
            ):
                seen.add(id(net.rule))
                out.append(self.ref(net))
        return out

    def misses(
        self,
        src: Addr,
        dst: Addr,
        port: int,
        protos: frozenset[int],
        *,
        src_node: Node | None = None,
        dst_node: Node | None = None,
    ) -> list[Miss]:
        """Rules that lack exactly one thing to grant the connection."""
        out: list[Miss] = []
        for net in self._net:
            src_ok = self._src(net).contains_addr(*src)
            hits = self._dst_ports(net, dst, src_node, dst_node)
            port_ok = _in_ports(port, hits)
            proto_ok = not net.protos.isdisjoint(protos)
            if src_ok and port_ok and not proto_ok:
                out.append(Miss(self.ref(net), "proto", f"protocols {sorted(net.protos)}"))
            elif src_ok and hits and proto_ok and not port_ok:
                out.append(Miss(self.ref(net), "port", f"ports {_ports_text(net.ports)}"))
            elif src_ok and not hits:
                out.append(Miss(self.ref(net), "dst", "matches the source, not the destination"))
            elif port_ok and proto_ok and not src_ok:
                out.append(Miss(self.ref(net), "src", "matches the destination, not the source"))
        return _nearest(out)

    # ---- SSH ------------------------------------------------------------------

    def ssh_granting(
        self, src: Addr, src_node: Node | None, dst_node: Node, login: str
    ) -> list[tuple[RuleRef, str]]:
        """SSH rules letting src log in to dst_node as login, with their actions."""
        out = []
        for rule in self.policy.ssh:
            if rule.action not in ("accept", "check"):
                continue
            if self._ssh_matches(rule, src, src_node, dst_node, login):
                out.append((RuleRef("ssh", rule.index, rule.span), rule.action))
        return out

    def ssh_misses(
        self, src: Addr, src_node: Node | None, dst_node: Node, login: str
    ) -> list[Miss]:
        """SSH rules matching source and destination whose users leave ``login`` out."""
        out = []
        for rule in self.policy.ssh:
            if rule.action not in ("accept", "check"):
                continue
            if self._ssh_matches(rule, src, src_node, dst_node, login, any_login=True):
                users = ", ".join(u.text for u in rule.users)
                out.append(Miss(RuleRef("ssh", rule.index, rule.span), "login", f"users {users}"))
        return out

    def _ssh_matches(
        self,
        rule: SshRule,
        src: Addr,
        src_node: Node | None,
        dst_node: Node,
        login: str,
        *,
        any_login: bool = False,
    ) -> bool:
        srcset = AddrSet(iv for ref in rule.src for iv in self.resolver.src_intervals(ref.text))
        if not srcset.contains_addr(*src):
            return False
        dst_ok = False
        for ref in rule.dst:
            a = ref.text.strip()
            if a == "autogroup:self":
                dst_ok = dst_ok or (
                    src_node is not None and dst_node in self.resolver.same_user(src_node)
                )
            else:
                dst_ok = dst_ok or dst_node in self.resolver.devices_for(a)
        if not dst_ok:
            return False
        if any_login:
            return True
        return any(self._login_ok(u.text.strip(), login, src_node) for u in rule.users)

    @staticmethod
    def _login_ok(user: str, login: str, src_node: Node | None) -> bool:
        if user == "autogroup:nonroot":
            return login_allowed({"*": "="}, login)
        if user.startswith("localpart:"):
            domain = user.partition("@")[2]
            email = (src_node.user or "") if src_node is not None else ""
            local, _, dom = email.partition("@")
            return bool(local) and dom.lower() == domain.lower() and local == login
        return user == login
