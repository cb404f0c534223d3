"""Which rules of the policy file grant a connection, and which ones nearly do.

The verdict of a test comes from the destination device's compiled filter; this module
names the policy rules behind it (``acls[i]`` / ``grants[i]`` / ``ssh[i]`` with their
spans), and for ``explain`` the nearest misses: rules that match the source but not the
port, the destination but not the source, and so on.

Rules are indexed by destination address; sources are resolved per distinct alias list,
lazily, so naming the rules behind a verdict costs the rules that reach that device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailcfg.policy import addrs
from tailcfg.policy.filter_match import DEFAULT_PROTOS, Addr, login_allowed
from tailcfg.policy.model import AclRule, Grant, Policy, SshRule
from tailcfg.policy.nodes import Node
from tailcfg.policy.ports import PortError, parse_dst, parse_ip_spec, parse_proto
from tailcfg.policy.resolve import AddrSet, Resolver
from tailcfg.policy.verdicts import RuleRef

SELF = "autogroup:self"


@dataclass(frozen=True, slots=True)
class Miss:
    """A rule that does not grant the connection, and the one thing it lacks."""

    rule: RuleRef
    lacks: str  # "proto", "port", "src", "dst", "login"
    detail: str


@dataclass(slots=True)
class _Net:
    """One (rule, destination alias, port spec) of an ACL or an ``ip`` grant."""

    section: str
    rule: AclRule | Grant  # its RuleRef (with the span) is made on first use
    src: tuple[str, ...]
    dsts: list[tuple[addrs.Interval | None, int, int]]  # None: any address
    protos: frozenset[int]
    self_only: bool


def _ports_text(dsts: Sequence[tuple[addrs.Interval | None, int, int]]) -> str:
    seen = dict.fromkeys(f"{a}" if a == b else f"{a}-{b}" for _, a, b in dsts)
    return ",".join(seen) or "-"


def _protos(proto: Sequence[int]) -> frozenset[int]:
    return frozenset(proto) if proto else DEFAULT_PROTOS


class Provenance:
    """Policy-level matching of ACLs and grants (``ip``; not ``via`` or ``app``)."""

    def __init__(self, policy: Policy, resolver: Resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.allow_all = not policy.has_acls and not policy.has_grants
        self._srcsets: dict[tuple[str, ...], AddrSet] = {}
        self._dst_ivs: dict[str, list[addrs.Interval]] = {}
        self._net: list[_Net] = []
        self._refs: dict[int, RuleRef] = {}
        for acl in policy.acls:
            if acl.action == "accept":
                self._acl(acl)
        for g in policy.grants:
            if not g.via:
                self._grant(g)
        self._index()

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
        ports: Sequence[tuple[int, int]],
        protos: frozenset[int],
    ) -> None:
        if alias == SELF:
            dsts: list[tuple[addrs.Interval | None, int, int]] = [(None, a, b) for a, b in ports]
            self._net.append(_Net(*ref, srcs, dsts, protos, True))
            return
        if alias == "*":
            ivs: list[addrs.Interval | None] = [None]
        else:
            cached = self._dst_ivs.get(alias)
            if cached is None:
                # Not merged: device addresses stay single, so they index by address.
                cached = list(dict.fromkeys(self.resolver.dst_intervals(alias)))
                self._dst_ivs[alias] = cached
            ivs = list(cached)
        dsts = [(iv, a, b) for iv in ivs for a, b in ports]
        if dsts:
            self._net.append(_Net(*ref, srcs, dsts, protos, False))

    def ref(self, net: _Net) -> RuleRef:
        """The rule of the policy file behind one entry (span computed once)."""
        hit = self._refs.get(id(net.rule))
        if hit is None:
            hit = RuleRef(net.section, net.rule.index, net.rule.span)
            self._refs[id(net.rule)] = hit
        return hit

    def warm(self) -> None:
        """Resolve every rule's sources now instead of on first use."""
        for rule in self._net:
            self._src(rule)

    def _index(self) -> None:
        """Single-address destinations by address (with their ports); the rest scanned."""
        self._by_addr: dict[Addr, list[tuple[int, int, int]]] = {}
        self._broad: list[int] = []
        for i, rule in enumerate(self._net):
            broad = rule.self_only
            for iv, a, b in rule.dsts:
                if iv is not None and iv[1] == iv[2]:
                    self._by_addr.setdefault((iv[0], iv[1]), []).append((i, a, b))
                else:
                    broad = True
            if broad:
                self._broad.append(i)

    def _src(self, rule: _Net) -> AddrSet:
        hit = self._srcsets.get(rule.src)
        if hit is None:
            ivs: list[addrs.Interval] = []
            for alias in rule.src:
                ivs.extend(self.resolver.src_intervals(alias))
            if "*" in rule.src:
                for route in self.resolver.approved_subnet_routes:
                    iv = addrs.parse_interval(route)
                    if iv is not None:
                        ivs.append(iv)
            hit = self._srcsets[rule.src] = AddrSet(ivs)
        return hit

    def _dst_hits(
        self, rule: _Net, dst: Addr, src_node: Node | None, dst_node: Node | None
    ) -> list[tuple[int, int]]:
        if rule.self_only:
            same = (
                src_node is not None
                and dst_node is not None
                and not src_node.tags
                and not dst_node.tags
                and src_node.user is not None
                and src_node.user.lower() == (dst_node.user or "").lower()
            )
            return [(a, b) for _, a, b in rule.dsts] if same else []
        v, x = dst
        return [
            (a, b) for iv, a, b in rule.dsts if iv is None or (iv[0] == v and iv[1] <= x <= iv[2])
        ]

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
        hits = {i for i, a, b in self._by_addr.get(dst, ()) if a <= port <= b}
        for i in self._broad:
            if i not in hits and any(
                a <= port <= b for a, b in self._dst_hits(self._net[i], dst, src_node, dst_node)
            ):
                hits.add(i)
        seen: set[int] = set()
        out: list[RuleRef] = []
        for i in sorted(hits):
            rule = self._net[i]
            key = id(rule.rule)
            if key in seen or not rule.protos & protos:
                continue
            if self._src(rule).contains_addr(*src):
                seen.add(key)
                out.append(self.ref(rule))
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
        for rule in self._net:
            src_ok = self._src(rule).contains_addr(*src)
            hits = self._dst_hits(rule, dst, src_node, dst_node)
            port_ok = any(a <= port <= b for a, b in hits)
            proto_ok = bool(rule.protos & protos)
            if src_ok and port_ok and not proto_ok:
                out.append(Miss(self.ref(rule), "proto", f"protocols {sorted(rule.protos)}"))
            elif src_ok and hits and proto_ok and not port_ok:
                out.append(Miss(self.ref(rule), "port", f"ports {_ports_text(rule.dsts)}"))
            elif src_ok and not hits:
                out.append(Miss(self.ref(rule), "dst", "matches the source, not the destination"))
            elif port_ok and proto_ok and not src_ok:
                out.append(Miss(self.ref(rule), "src", "matches the destination, not the source"))
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
