"""Group access facts for reading: identities instead of devices, ranges instead of ports.

Sources collapse, in this order, to ``*`` (every address of the tailnet, when every
device changes too), ``autogroup:tagged`` (every tagged device, two tags or more), tags
and users whose every device is in the set, groups (two or more members, all present),
``autogroup:member`` (every user, two or more, when no group says it), then single devices
(``laptop (odin@example.com)``) and address ranges (hosts aliases where they match).
Destinations are devices, or addresses a router serves (``nas via gateway``,
``autogroup:internet via exit``, ``* via gateway`` for everything it routes).
Rows with the same change are merged: same destination and ports -> one row listing
the sources; then same sources and ports -> one row listing the destinations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tailcfg.policy.diff.access import (
    OTHER_LOGIN,
    CapFacts,
    Delta,
    DstKey,
    Facts,
    PortMap,
    SrcKey,
    subtract,
)
from tailcfg.policy.diff.rules import RuleFinder
from tailcfg.policy.diff.universe import Universe
from tailcfg.policy.evaluate.filter_match import DEFAULT_PROTOS
from tailcfg.policy.evaluate.verdicts import RuleRef
from tailcfg.policy.model import addrs
from tailcfg.policy.model.addrs import Interval
from tailcfg.policy.model.policy import Policy

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}
_WILDCARD = [iv for t in addrs.WILDCARD_SRC if (iv := addrs.parse_interval(t))]
_INTERNET = [iv for t in addrs.INTERNET_DST if (iv := addrs.parse_interval(t))]
NONROOT = "autogroup:nonroot"


def proto_name(proto: int) -> str:
    return PROTO_NAMES.get(proto, str(proto))


def _range_text(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


@dataclass(frozen=True, slots=True)
class PortSpec:
    """Ports of some protocols; TCP+UDP+ICMP+ICMPv6 together read as bare ports."""

    protocols: tuple[int, ...]
    ranges: tuple[tuple[int, int], ...]

    @property
    def ports_text(self) -> str:
        if self.ranges == ((0, 65535),):
            return "*"
        return ",".join(_range_text(a, b) for a, b in self.ranges)

    @property
    def text(self) -> str:
        if frozenset(self.protocols) == DEFAULT_PROTOS:
            return self.ports_text
        return "+".join(proto_name(p) for p in self.protocols) + ":" + self.ports_text

    def to_json(self) -> dict[str, Any]:
        return {
            "protocols": [proto_name(p) for p in self.protocols],
            "ranges": [{"first": a, "last": b} for a, b in self.ranges],
            "text": self.text,
        }


def port_specs(pm: PortMap) -> tuple[PortSpec, ...]:
    """Protocols with equal port ranges share one spec."""
    by_ranges: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for proto, ranges in pm.items():
        by_ranges.setdefault(tuple(ranges), []).append(proto)
    specs = [PortSpec(tuple(sorted(ps)), r) for r, ps in by_ranges.items()]
    return tuple(sorted(specs, key=lambda s: (s.protocols, s.ranges)))


@dataclass(frozen=True, slots=True)
class AccessChange:
    """Sources that gained (or lost) these ports to these destinations."""

    src: tuple[str, ...]
    dst: tuple[str, ...]
    ports: tuple[PortSpec, ...]
    rules: tuple[RuleRef, ...] = ()  # granting it in the new (gained) / old (lost) policy

    @property
    def ports_text(self) -> str:
        return " ".join(p.text for p in self.ports)

    def to_json(self) -> dict[str, Any]:
        return {
            "src": list(self.src),
            "dst": list(self.dst),
            "ports": [p.to_json() for p in self.ports],
        }


@dataclass(frozen=True, slots=True)
class CapChange:
    """Application capabilities (grants with ``app``) gained or lost."""

    src: tuple[str, ...]
    dst: tuple[str, ...]
    capabilities: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "src": list(self.src),
            "dst": list(self.dst),
            "capabilities": list(self.capabilities),
        }


@dataclass(frozen=True, slots=True)
class SshChange:
    """SSH logins gained, lost, or changed between ``accept`` and ``check``."""

    src: tuple[str, ...]
    dst: tuple[str, ...]
    users: tuple[str, ...]
    action: str  # accept | check (the new action; the lost one for lost rows)
    old_action: str | None = None  # set for changed rows
    rules: tuple[RuleRef, ...] = ()  # granting it in the new (gained) / old (lost) policy

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "src": list(self.src),
            "dst": list(self.dst),
            "users": list(self.users),
            "action": self.action,
        }
        if self.old_action is not None:
            out["old_action"] = self.old_action
        return out


def rule_json(rule: RuleRef) -> dict[str, Any]:
    span = rule.span
    return {
        "rule": rule.name,
        "path": span.path if span else None,
        "line": span.line if span else None,
        "col": span.col if span else None,
    }


class Labeler:
    """Names for sets of devices and addresses, from the universe and both policies."""

    def __init__(self, u: Universe, policies: Sequence[Policy], delta: Delta) -> None:
        self.u = u
        self.served = delta.served
        self.hosts: dict[Interval, str] = {}
        self.groups: dict[str, frozenset[str]] = {}
        for p in reversed(policies):
            for name, h in p.hosts.items():
                iv = addrs.parse_interval(h.value.text.strip())
                if iv is not None:
                    self.hosts.setdefault(iv, name)
            for name, g in p.groups.items():
                members = frozenset(m.text.strip().lower() for m in g.members)
                self.groups.setdefault(name, members)
        shown = [n for n in u.sources if n.name not in u.hidden]
        self.all = frozenset(n.name for n in shown)
        self.members = frozenset(n.name for n in shown if not n.tags)
        self.tagged = frozenset(n.name for n in shown if n.tags)
        self.by_tag: dict[str, set[str]] = {}
        self.by_user: dict[str, set[str]] = {}
        self.identity: dict[str, str] = {}
        for n in u.sources:
            for t in n.tags:
                self.by_tag.setdefault(t, set()).add(n.name)
            if not n.tags and n.user:
                self.by_user.setdefault(n.user.lower(), set()).add(n.name)
            self.identity[n.name] = ", ".join(n.tags) if n.tags else (n.user or "")

    # ---- addresses ------------------------------------------------------------

    def nets(self, ivs: Iterable[Interval]) -> list[str]:
        out = []
        for iv in addrs.merge(ivs):
            name = self.hosts.get(iv)
            out.append(addrs.render(iv) if name is None else f"{name} ({addrs.render(iv)})")
        return out

    def _standin(self, router: str) -> list[str]:
        iv = addrs.parse_interval(self.u.label(router))
        return self.nets([iv]) if iv is not None else [self.u.label(router)]

    def routed(self, router: str, ivs: Sequence[Interval]) -> list[str]:
        merged = addrs.merge(ivs)
        labels: list[str] = []
        served = self.served.get(router, [])
        for family in (4, 6):
            space = [s for s in served if s[0] == family]
            if space and _covers(merged, space):
                merged = _minus(merged, space)
                labels.extend(["*"] if router not in self.u.standins else self._standin(router))
            inet = [iv for iv in _INTERNET if iv[0] == family]
            if merged and _covers(merged, inet):
                merged = _minus(merged, inet)
                labels.append("autogroup:internet")
        labels.extend(self.nets(merged))
        if router in self.u.standins:
            return list(dict.fromkeys(labels))
        return list(dict.fromkeys(f"{x} via {router}" for x in labels))

    # ---- identities -----------------------------------------------------------

    def sources(self, keys: Iterable[SrcKey]) -> tuple[str, ...]:
        devs = {k[1] for k in keys if k[0] == "dev"} - self.u.hidden
        nets = addrs.merge(k[1:] for k in keys if k[0] == "net")
        head: list[str] = []
        wild = [w for f in (4, 6) if _covers(nets, ws := _family(_WILDCARD, f)) for w in ws]
        if wild:
            nets = _minus(nets, wild)
            if devs >= self.all:
                head.append("*")
                devs = set()
            else:
                head.append("* (addresses of no device)")
        if len({self.identity[d] for d in self.tagged}) >= 2 and self.tagged <= devs:
            head.append("autogroup:tagged")
            devs -= self.tagged
        tags = []
        for tag in sorted(self.by_tag):
            if self.by_tag[tag] <= devs:
                tags.append(tag)
        for tag in tags:
            devs -= self.by_tag[tag]
        users = {u for u, names in self.by_user.items() if names <= devs}
        for u in users:
            devs -= self.by_user[u]
        groups = []
        for name, members in sorted(self.groups.items(), key=lambda x: (-len(x[1]), x[0])):
            if len(members) >= 2 and members <= users:
                groups.append(name)
                users -= members
        if not groups and len(users) >= 2 and users == set(self.by_user):
            head.append("autogroup:member")
            users = set()
        singles = [
            self.u.label(d) if d in self.u.standins else f"{d} ({self.identity[d]})"
            for d in sorted(devs)
        ]
        return (*head, *sorted(groups), *sorted(users), *tags, *singles, *self.nets(nets))

    def logins(self, logins: Iterable[str]) -> tuple[str, ...]:
        names = set(logins)
        if OTHER_LOGIN in names:
            names = {n for n in names if n == "root"} | {NONROOT}
        return tuple(sorted(names, key=lambda n: (n != "root", n == NONROOT, n)))


def _family(ivs: Sequence[Interval], family: int) -> list[Interval]:
    return [iv for iv in ivs if iv[0] == family]


def _covers(ivs: Sequence[Interval], need: Sequence[Interval]) -> bool:
    return bool(need) and all(any(addrs.contains(m, w) for m in ivs) for w in need)


def _minus(ivs: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    return subtract(ivs, holes)


Row = tuple[tuple[str, ...], tuple[str, ...], Any, tuple[SrcKey, str]]


def _merge_rows(rows: Iterable[tuple[SrcKey, str, Any]], lab: Labeler) -> list[Row]:
    """Merge rows; each result carries one (source key, destination label) it came from."""
    by_dst: dict[tuple[str, Any], list[SrcKey]] = {}
    for src, dst, what in rows:
        by_dst.setdefault((dst, what), []).append(src)
    by_src: dict[tuple[tuple[str, ...], Any], list[str]] = {}
    for (dst, what), srcs in by_dst.items():
        labels = lab.sources(srcs)
        if labels:  # not only hidden stand-in routers
            by_src.setdefault((labels, what), []).append(dst)
    out: list[Row] = []
    for (src, what), dsts in by_src.items():
        ordered = tuple(sorted(set(dsts)))
        sample = (min(by_dst[(ordered[0], what)], key=_shown_first(lab)), ordered[0])
        out.append((src, ordered, what, sample))
    return sorted(out, key=lambda r: (r[0], r[1], repr(r[2])))


def _shown_first(lab: Labeler) -> Any:
    def key(src: SrcKey) -> tuple[bool, str]:
        return (src[0] == "dev" and src[1] in lab.u.hidden, repr(src))

    return key


def _access(lab: Labeler, facts: Facts, finder: RuleFinder | None) -> tuple[AccessChange, ...]:
    rows: dict[tuple[SrcKey, str, tuple[PortSpec, ...]], tuple[DstKey, PortMap]] = {}
    routed: dict[tuple[SrcKey, str, tuple[PortSpec, ...]], list[Interval]] = {}
    maps: dict[tuple[SrcKey, str, tuple[PortSpec, ...]], PortMap] = {}
    for (src, dst), pm in facts.items():
        ports = port_specs(pm)
        if dst[0] == "dev":
            if dst[1] not in lab.u.hidden:
                rows[(src, lab.u.label(dst[1]), ports)] = (dst, pm)
        else:
            routed.setdefault((src, dst[1], ports), []).append(dst[2:])
            maps[(src, dst[1], ports)] = pm
    for (src, router, ports), ivs in routed.items():
        for label in lab.routed(router, ivs):
            rows.setdefault(
                (src, label, ports), (("net", router, *ivs[0]), maps[(src, router, ports)])
            )
    out = []
    for s, d, p, (src, label) in _merge_rows(rows, lab):
        rules: tuple[RuleRef, ...] = ()
        if finder is not None:
            dst, pm = rows[(src, label, p)]
            proto = min(pm)
            rules = finder.access(src, dst, proto, pm[proto][0][0])
        out.append(AccessChange(s, d, p, rules))
    return tuple(out)


def group_access(
    u: Universe,
    policies: Sequence[Policy],
    delta: Delta,
    finders: tuple[RuleFinder, RuleFinder] | None = None,
) -> tuple[tuple[AccessChange, ...], tuple[AccessChange, ...]]:
    """(gained, lost) rows for reading (with the rules behind them, given ``finders``
    for the old and the new policy)."""
    lab = Labeler(u, policies, delta)
    old, new = finders or (None, None)
    return _access(lab, delta.gained, new), _access(lab, delta.lost, old)


def _caps(lab: Labeler, facts: CapFacts) -> tuple[CapChange, ...]:
    rows: dict[tuple[SrcKey, str, tuple[str, ...]], None] = {}
    for (src, dst), caps in facts.items():
        what = tuple(sorted(caps))
        if dst[0] == "dev":
            if dst[1] not in lab.u.hidden:
                rows[(src, lab.u.label(dst[1]), what)] = None
        else:
            for label in lab.routed(dst[1], [dst[2:]]):
                rows[(src, label, what)] = None
    return tuple(CapChange(s, d, c) for s, d, c, _ in _merge_rows(rows, lab))


def group_caps(
    u: Universe, policies: Sequence[Policy], delta: Delta
) -> tuple[tuple[CapChange, ...], tuple[CapChange, ...]]:
    """(gained, lost) capability rows for reading."""
    lab = Labeler(u, policies, delta)
    return _caps(lab, delta.caps_gained), _caps(lab, delta.caps_lost)


def group_ssh(
    u: Universe,
    policies: Sequence[Policy],
    delta: Delta,
    finders: tuple[RuleFinder, RuleFinder] | None = None,
) -> tuple[tuple[SshChange, ...], tuple[SshChange, ...], tuple[SshChange, ...]]:
    """(gained, lost, changed) SSH rows for reading."""
    lab = Labeler(u, policies, delta)
    logins: dict[tuple[str, str, str | None, str | None], list[str]] = {}
    for (src, dst, login), (a, b) in delta.ssh.items():
        logins.setdefault((src, dst, a, b), []).append(login)
    rows: dict[tuple[SrcKey, str, Any], tuple[str, str]] = {}
    for (src, dst, a, b), names in logins.items():
        if dst not in u.hidden:
            rows[(("dev", src), u.label(dst), (a, b, lab.logins(names)))] = (dst, min(names))
    gained: list[SshChange] = []
    lost: list[SshChange] = []
    changed: list[SshChange] = []
    for srcs, dsts, (a, b, users), (key, label) in _merge_rows(rows, lab):
        rules: tuple[RuleRef, ...] = ()
        finder = finders[0 if b is None else 1] if finders else None
        if finder is not None:
            dst_name, login = rows[(key, label, (a, b, users))]
            rules = finder.ssh(key[1], dst_name, login)
        if a is None and b is not None:
            gained.append(SshChange(srcs, dsts, users, b, rules=rules))
        elif b is None and a is not None:
            lost.append(SshChange(srcs, dsts, users, a, rules=rules))
        elif a is not None and b is not None:
            changed.append(SshChange(srcs, dsts, users, b, a, rules=rules))
    return tuple(gained), tuple(lost), tuple(changed)
