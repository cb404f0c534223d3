"""Does a packet filter in Tailscale's wire shape admit a packet?

A device's packet filter is a list of ``tailcfg.FilterRule`` mappings:
``{"SrcIPs": [...], "DstPorts": [{"IP": ..., "Ports": {"First": a, "Last": b}}],
"IPProto": [6, ...]}``. Addresses are ``*``, an IP, a CIDR or a range ``a-b``.
A missing or empty ``IPProto`` means the client's default set: TCP, UDP, ICMP and
ICMPv6. Rules without ``DstPorts`` (``CapGrant`` rules) admit no packets.

:class:`PacketFilter` answers "which rules admit src -> dst:port/proto" with a cache
of merged source intervals per (dst, port, proto), so many queries against one
device's filter cost a bisect each. :class:`SshMatcher` does the same for a device's
SSH policy (``principals`` x ``sshUsers``).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

TCP, UDP, ICMP, ICMPV6, SCTP = 6, 17, 1, 58, 132
DEFAULT_PROTOS: frozenset[int] = frozenset({TCP, UDP, ICMP, ICMPV6})

_FIRST = operator.itemgetter(0)
_SECOND = operator.itemgetter(1)

# An address is (family, integer): family 4 or 6.
Addr = tuple[int, int]
_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}


def parse_addr(text: str) -> Addr:
    """``"100.64.0.1"`` -> (4, int); ``"fd7a::1"`` -> (6, int). Raises ValueError."""
    ip = ipaddress.ip_address(text.strip("[]"))
    return ip.version, int(ip)


def format_addr(addr: Addr) -> str:
    family, value = addr
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


@functools.lru_cache(maxsize=1 << 16)
def parse_range(text: str) -> tuple[tuple[int, int, int], ...]:
    """An address spec of a filter -> ((family, lo, hi), ...); ``*`` is every address."""
    return tuple(_parse_range(text.strip()))


def _parse_v4(text: str) -> int | None:
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not part.isdigit() or len(part) > 3 or (len(part) > 1 and part[0] == "0"):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def _parse_range(text: str) -> list[tuple[int, int, int]]:
    v4 = _parse_v4(text)
    if v4 is not None:
        return [(4, v4, v4)]
    if text == "*":
        return [(4, 0, _MAX[4]), (6, 0, _MAX[6])]
    if "-" in text and "/" not in text:
        first, last = text.split("-", 1)
        a, b = parse_addr(first), parse_addr(last)
        if a[0] != b[0]:
            raise ValueError(f"mixed address families in range {text!r}")
        return [(a[0], a[1], b[1])]
    if "/" in text:
        net = ipaddress.ip_network(text, strict=False)
        return [(net.version, int(net.network_address), int(net.broadcast_address))]
    family, value = parse_addr(text)
    return [(family, value, value)]


class IntervalSet:
    """A set of addresses as merged, sorted intervals per family; membership by bisect."""

    __slots__ = ("_his", "_los")

    def __init__(self, intervals: Iterable[tuple[int, int, int]] = ()) -> None:
        by_family: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for family, lo, hi in intervals:
            by_family[family].append((lo, hi))
        self._los: dict[int, list[int]] = {}
        self._his: dict[int, list[int]] = {}
        for family, items in by_family.items():
            items.sort()
            los: list[int] = []
            his: list[int] = []
            for lo, hi in items:
                if his and lo <= his[-1] + 1:
                    his[-1] = max(his[-1], hi)
                else:
                    los.append(lo)
                    his.append(hi)
            self._los[family] = los
            self._his[family] = his

    @classmethod
    def union(cls, sets: Iterable[IntervalSet]) -> IntervalSet:
        out: list[tuple[int, int, int]] = []
        for s in sets:
            for family, los in s._los.items():
                out.extend((family, lo, hi) for lo, hi in zip(los, s._his[family], strict=True))
        return cls(out)

    @classmethod
    def from_specs(cls, specs: Iterable[str]) -> IntervalSet:
        out: list[tuple[int, int, int]] = []
        for spec in specs:
            try:
                out.extend(parse_range(spec))
            except ValueError:
                continue
        return cls(out)

    def __contains__(self, addr: Addr) -> bool:
        family, value = addr
        los = self._los.get(family)
        if not los:
            return False
        i = bisect.bisect_right(los, value) - 1
        return i >= 0 and value <= self._his[family][i]

    def __bool__(self) -> bool:
        return any(self._los.values())

    def intervals(self, family: int) -> Iterator[tuple[int, int]]:
        return zip(self._los.get(family, ()), self._his.get(family, ()), strict=True)


class DeviceIndex:
    """Numbers devices so that a set of them is an int bitmask (bit i = device i)."""

    def __init__(self, device_addrs: Sequence[Sequence[Addr]]) -> None:
        pairs: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for i, addrs in enumerate(device_addrs):
            for family, value in addrs:
                pairs[family].append((value, 1 << i))
        self._values = {f: [v for v, _ in sorted(p)] for f, p in pairs.items()}
        self._bits = {f: [b for _, b in sorted(p)] for f, p in pairs.items()}
        self._memo: dict[tuple[int, int], int] = {}
        self._keep: list[object] = []  # keeps memoised objects alive (ids stay unique)
        self._exact: dict[Addr, int] = {}
        for f, p in pairs.items():
            for value, bit in p:
                self._exact[(f, value)] = self._exact.get((f, value), 0) | bit
        self._spec_masks: dict[str, tuple[int, int]] = {}

    def mask(self, addrs: IntervalSet, family: int) -> int:
        """Devices whose ``family`` address lies in ``addrs`` (memoised per set object)."""
        key = (id(addrs), family)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self._mask(addrs, family)
            self._keep.append(addrs)
        return hit

    def _mask(self, addrs: IntervalSet, family: int) -> int:
        return self._range_mask(addrs.intervals(family), family)

    def _range_mask(self, ranges: Iterable[tuple[int, int]], family: int) -> int:
        values = self._values[family]
        bits = self._bits[family]
        out = 0
        for lo, hi in ranges:
            i = bisect.bisect_left(values, lo)
            j = bisect.bisect_right(values, hi)
            for k in range(i, j):
                out |= bits[k]
        return out

    def specs_mask(self, specs: Sequence[str], family: int) -> int:
        """Like :meth:`mask` of ``IntervalSet.from_specs(specs)``, without building the set.

        Memoised per list object (a compiled tailnet shares its ``SrcIPs`` lists) and per
        address string.
        """
        hit = self._memo.get((id(specs), -family))
        if hit is None:
            table = self._spec_masks
            for spec in specs:
                if spec not in table:
                    table[spec] = self._spec(spec)
            masks = list(map(table.__getitem__, specs))
            v4 = functools.reduce(operator.or_, map(_FIRST, masks), 0)
            v6 = functools.reduce(operator.or_, map(_SECOND, masks), 0)
            self._memo[(id(specs), -4)] = v4
            self._memo[(id(specs), -6)] = v6
            self._keep.append(specs)
            hit = v4 if family == 4 else v6
        return hit

    def _spec(self, spec: str) -> tuple[int, int]:
        """(IPv4 devices, IPv6 devices) inside one wire address string."""
        try:
            spans = parse_range(spec)
        except ValueError:
            return 0, 0
        out = [0, 0]
        for f, lo, hi in spans:
            side = 0 if f == 4 else 1
            if lo == hi:
                out[side] |= self._exact.get((f, lo), 0)
            else:
                out[side] |= self._range_mask(((lo, hi),), f)
        return out[0], out[1]


@dataclass(frozen=True, slots=True)
class _Dst:
    addrs: IntervalSet
    first: int
    last: int
    single: Addr | None = None  # the one address, when the entry names one


class _Rule(NamedTuple):
    num: int  # position in the filter
    specs: Sequence[str]  # SrcIPs as written; parsed on first use (PacketFilter._src)
    dsts: tuple[_Dst, ...]
    protos: frozenset[int]

    def reaches(self, dst: Addr, port: int) -> bool:
        """Whether one of the DstPorts entries covers dst:port."""
        for d in self.dsts:
            if d.first <= port <= d.last:
                if d.single is not None:
                    if d.single == dst:
                        return True
                elif dst in d.addrs:
                    return True
        return False


def _protos(rule: Mapping[str, Any]) -> frozenset[int]:
    value = rule.get("IPProto") or ()
    return _proto_set(tuple(value)) if value else DEFAULT_PROTOS


@functools.lru_cache(maxsize=1024)
def _proto_set(value: tuple[Any, ...]) -> frozenset[int]:
    return frozenset(int(p) for p in value)


SrcCache = dict[tuple[str, ...], IntervalSet]


def _src_set(specs: Sequence[str], cache: SrcCache | None) -> IntervalSet:
    if cache is None:
        return IntervalSet.from_specs(specs)
    key = tuple(specs)
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = IntervalSet.from_specs(specs)
    return hit


_NO_ADDRS = IntervalSet()


@functools.lru_cache(maxsize=1 << 16)
def _dst(ip: str, first: Any, last: Any) -> _Dst:
    first, last = int(first), int(last)
    try:
        spans = parse_range(ip)
    except ValueError:
        spans = ()
    if len(spans) == 1 and spans[0][1] == spans[0][2]:
        return _Dst(_NO_ADDRS, first, last, (spans[0][0], spans[0][1]))
    return _Dst(IntervalSet(spans), first, last)


_NO_PORTS: Mapping[str, Any] = {}


def _compile_rule(index: int, rule: Mapping[str, Any]) -> _Rule:
    dsts = []
    for dp in rule.get("DstPorts") or ():
        ports = dp.get("Ports") or _NO_PORTS
        ip = str(dp.get("IP", ""))
        dsts.append(_dst(ip, ports.get("First", 0), ports.get("Last", 65535)))
    return _Rule(index, rule.get("SrcIPs") or (), tuple(dsts), _protos(rule))


class PacketFilter:
    """One device's packet filter, ready for many queries."""

    def __init__(
        self, rules: Sequence[Mapping[str, Any]], *, src_cache: SrcCache | None = None
    ) -> None:
        """``src_cache`` shares parsed ``SrcIPs`` between the filters of one tailnet."""
        self.rules = tuple(rules)
        self._compiled = tuple(_compile_rule(i, r) for i, r in enumerate(rules))
        self._src_cache = src_cache
        self._srcs: list[IntervalSet | None] = [None] * len(self._compiled)
        self._cache: dict[tuple[Addr, int, frozenset[int]], list[int]] = {}
        self._union: dict[tuple[Addr, int, frozenset[int]], IntervalSet] = {}
        self._masks: dict[tuple[Addr, int, frozenset[int]], int] = {}
        self._dst_rules: dict[Addr, list[tuple[int, int, _Rule]]] = {}
        # (IPv4, IPv6) source-device masks per rule, for the one DeviceIndex queried
        self._rule_masks: list[tuple[int, int] | None] = [None] * len(self._compiled)
        # DstPorts naming one address, by address; the other rules are scanned.
        self._by_dst: dict[Addr, dict[tuple[int, int], list[int]]] = {}
        self._wide: list[_Rule] = []
        by_dst = self._by_dst
        for rule in self._compiled:
            wide = False
            for d in rule.dsts:
                single = d.single
                if single is None:
                    wide = True
                    continue
                ranges = by_dst.get(single)
                if ranges is None:
                    ranges = by_dst[single] = {}
                ranges.setdefault((d.first, d.last), []).append(rule.num)
            if wide:
                self._wide.append(rule)

    def _src(self, i: int) -> IntervalSet:
        """Rule ``i``'s sources, parsed on first use (shared through ``src_cache``)."""
        hit = self._srcs[i]
        if hit is None:
            hit = self._srcs[i] = _src_set(self._compiled[i].specs, self._src_cache)
        return hit

    def _candidates(self, dst: Addr, port: int, protos: frozenset[int]) -> list[int]:
        """Indices (ascending) of the rules admitting some source to dst:port."""
        key = (dst, port, protos)
        hit = self._cache.get(key)
        if hit is None:
            found: set[int] = set()
            for (a, b), indices in self._by_dst.get(dst, {}).items():
                if a <= port <= b:
                    found.update(indices)
            for rule in self._wide:
                if rule.num not in found and rule.reaches(dst, port):
                    found.add(rule.num)
            rules = self._compiled
            hit = [i for i in sorted(found) if rules[i].protos & protos]
            self._cache[key] = hit
        return hit

    def sources(self, dst: Addr, port: int, protos: frozenset[int]) -> IntervalSet:
        """Every source address admitted to dst:port (any protocol of ``protos``)."""
        key = (dst, port, protos)
        union = self._union.get(key)
        if union is None:
            union = IntervalSet.union(self._src(i) for i in self._candidates(dst, port, protos))
            self._union[key] = union
        return union

    def warm(self, index: DeviceIndex) -> None:
        """Compute every rule's source-device masks now (see :meth:`admitted_devices`)."""
        for rule in self._compiled:
            if self._rule_masks[rule.num] is None:
                specs = rule.specs
                self._rule_masks[rule.num] = (
                    index.specs_mask(specs, 4),
                    index.specs_mask(specs, 6),
                )

    def admitted_devices(
        self, dst: Addr, port: int, protos: frozenset[int], index: DeviceIndex
    ) -> int:
        """Bitmask of the devices (of ``index``) whose same-family address reaches dst:port."""
        key = (dst, port, protos)
        hit = self._masks.get(key)
        if hit is None:
            hit = 0
            side = 0 if dst[0] == 4 else 1
            entries = self._dst_rules.get(dst)
            if entries is None:
                entries = self._dst_rules[dst] = self._entries(dst)
            rule_masks = self._rule_masks
            for first, last, rule in entries:
                if first <= port <= last and rule.protos & protos:
                    masks = rule_masks[rule.num]
                    if masks is None:
                        specs = rule.specs
                        masks = (index.specs_mask(specs, 4), index.specs_mask(specs, 6))
                        rule_masks[rule.num] = masks
                    hit |= masks[side]
            self._masks[key] = hit
        return hit

    def _entries(self, dst: Addr) -> list[tuple[int, int, _Rule]]:
        """Every (first port, last port, rule) of the DstPorts entries covering ``dst``."""
        rules = self._compiled
        out = [
            (a, b, rules[i])
            for (a, b), indices in self._by_dst.get(dst, {}).items()
            for i in indices
        ]
        for rule in self._wide:
            for d in rule.dsts:
                if d.single == dst if d.single is not None else dst in d.addrs:
                    out.append((d.first, d.last, rule))
        return out

    def matching_rules(
        self, src: Addr, dst: Addr, port: int, protos: frozenset[int] = DEFAULT_PROTOS
    ) -> list[int]:
        """Indices of the rules admitting src -> dst:port for any protocol of ``protos``."""
        return [i for i in self._candidates(dst, port, protos) if src in self._src(i)]

    def admits(
        self, src: Addr, dst: Addr, port: int, protos: frozenset[int] = DEFAULT_PROTOS
    ) -> bool:
        return any(src in self._src(i) for i in self._candidates(dst, port, protos))

    def rules_from(self, src: Addr) -> list[int]:
        """Indices of the rules whose sources include ``src`` (for near misses)."""
        return [r.num for r in self._compiled if src in self._src(r.num)]


@dataclass(frozen=True, slots=True)
class SshVerdict:
    """Which SSH rules (indices) let a source log in: all of them, and the check ones."""

    rules: tuple[int, ...]
    check_rules: tuple[int, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.rules)

    @property
    def checked(self) -> bool:
        return bool(self.check_rules)


def login_allowed(ssh_users: Mapping[str, str], login: str) -> bool:
    """Does an ``sshUsers`` map let ``login`` in? ``root: ""`` forbids root; ``*`` is non-root."""
    if not login:
        return False
    if login in ssh_users:
        return bool(ssh_users[login])
    if login == "root":
        return False
    return bool(ssh_users.get("*"))


class SshMatcher:
    """One device's SSH policy (``{"rules": [...]}`` in Tailscale's wire shape)."""

    def __init__(self, rules: Sequence[Mapping[str, Any]]) -> None:
        self.rules = tuple(rules)
        self._principals: list[tuple[IntervalSet, bool]] = []
        for rule in self.rules:
            specs = []
            anyone = False
            for p in rule.get("principals") or ():
                if p.get("any"):
                    anyone = True
                elif p.get("nodeIP"):
                    specs.append(str(p["nodeIP"]))
            self._principals.append((IntervalSet.from_specs(specs), anyone))

    def verdict(self, src: Addr, login: str) -> SshVerdict:
        hits: list[int] = []
        checks: list[int] = []
        for i, rule in enumerate(self.rules):
            addrs, anyone = self._principals[i]
            if not (anyone or src in addrs):
                continue
            action = rule.get("action") or {}
            if not action or action.get("reject"):
                continue
            if not login_allowed(rule.get("sshUsers") or {}, login):
                continue
            hits.append(i)
            if action.get("holdAndDelegate"):
                checks.append(i)
        return SshVerdict(tuple(hits), tuple(checks))
