"""Apply a Tailscale wire-shape packet filter (a list of tailcfg.FilterRule dicts).

    rules = [{"SrcIPs": ["100.64.0.0/10"],
              "DstPorts": [{"IP": "*", "Ports": {"First": 22, "Last": 22}}],
              "IPProto": [6]}]
    PacketFilter(rules).match(src, dst, proto=6, port=22)   # -> 0 (the rule index)

``SrcIPs`` and ``DstPorts[].IP`` entries are ``*``, an address, a CIDR or a range
``a-b`` (``cap:...`` sources match nothing here); ``IPProto`` defaults to TCP, UDP, ICMP,
ICMPv6. As in tailscaled's ``runIn``: TCP, UDP and SCTP match protocol, addresses and port;
an ICMP/ICMPv6 request is admitted by any rule whose sources and destinations hold the
addresses, whatever its protocols and ports ("if any port is open to an IP, allow ICMP to
it"); any other protocol needs a rule naming it with the whole port range 0-65535. A rule
with ``CapGrant`` and no ``DstPorts`` admits no packet. Default deny.

Like tailscaled's filter, :meth:`PacketFilter.check_in` is stateful for return traffic:
TCP segments other than a bare SYN pass (the SYN was gated), ICMP echo replies and
errors pass, UDP passes when it answers a flow recorded by :meth:`PacketFilter.note_out`.
Each set of addresses is compiled to sorted, merged integer intervals; the filter indexes
every rule's sources and destinations in two interval indexes whose segments carry bitmasks
of rules, so a lookup is two bisects and an AND, then port checks on the few candidates.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tailcfg.errors import TailcfgError
from tailcfg.node.packets import (
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    IPAddress,
    Packet,
)

PROTO_SCTP = 132
DEFAULT_PROTOS = frozenset({PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6})
PORTED_PROTOS = frozenset({PROTO_TCP, PROTO_UDP, PROTO_SCTP})
ICMP_PROTOS = frozenset({PROTO_ICMP, PROTO_ICMPV6})
ALL_PORTS = (0, 65535)
FLOW_CACHE_SIZE = 512
_V4_MAX = (1 << 32) - 1
_V6_MAX = (1 << 128) - 1


class FilterError(TailcfgError):
    """A packet filter rule that cannot be compiled."""


class IPSet:
    """A set of IPv4 and IPv6 addresses as merged, sorted integer intervals."""

    __slots__ = ("_his", "_los")

    def __init__(self, intervals: Iterable[tuple[int, int, int]]) -> None:
        merged: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for version, lo, hi in sorted(intervals):
            spans = merged[version]
            if spans and lo <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
            else:
                spans.append((lo, hi))
        self._los = {v: [lo for lo, _ in spans] for v, spans in merged.items()}
        self._his = {v: [hi for _, hi in spans] for v, spans in merged.items()}

    @classmethod
    def parse(cls, entries: Iterable[str]) -> IPSet:
        return cls(iv for entry in entries for iv in _intervals(entry))

    def __contains__(self, address: IPAddress) -> bool:
        los = self._los[address.version]
        value = int(address)
        i = bisect.bisect_right(los, value) - 1
        return i >= 0 and value <= self._his[address.version][i]

    def __bool__(self) -> bool:
        return bool(self._los[4] or self._los[6])

    def intervals(self, version: int) -> list[tuple[int, int]]:
        return list(zip(self._los[version], self._his[version], strict=True))


class IntervalIndex:
    """Address → bitmask of the rules whose set holds it: one bisect per lookup.

    The sets of all rules are cut into elementary segments by a sweep over their
    boundaries; each segment carries the mask of the rules covering it.
    """

    __slots__ = ("_masks", "_starts")

    def __init__(self, sets: Sequence[IPSet]) -> None:
        self._starts: dict[int, list[int]] = {}
        self._masks: dict[int, list[int]] = {}
        for version in (4, 6):
            events: dict[int, int] = {}
            for index, ips in enumerate(sets):
                for lo, hi in ips.intervals(version):
                    # A set's own intervals are disjoint and non-adjacent, so toggling works.
                    events[lo] = events.get(lo, 0) ^ (1 << index)
                    events[hi + 1] = events.get(hi + 1, 0) ^ (1 << index)
            starts, masks, mask = [], [], 0
            for point in sorted(events):
                mask ^= events[point]
                starts.append(point)
                masks.append(mask)
            self._starts[version], self._masks[version] = starts, masks

    def lookup(self, address: IPAddress) -> int:
        i = bisect.bisect_right(self._starts[address.version], int(address)) - 1
        return self._masks[address.version][i] if i >= 0 else 0


def _intervals(entry: str) -> list[tuple[int, int, int]]:
    text = entry.strip()
    try:
        if text.startswith("cap:"):
            return []  # a peer-capability source: this node knows no peer capabilities
        if text == "*":
            return [(4, 0, _V4_MAX), (6, 0, _V6_MAX)]
        if "-" in text and "/" not in text:
            first, last = (ipaddress.ip_address(p.strip()) for p in text.split("-", 1))
            if first.version != last.version or int(first) > int(last):
                raise ValueError("bad range")
            return [(first.version, int(first), int(last))]
        net = ipaddress.ip_network(text, strict=False)
        return [(net.version, int(net.network_address), int(net.broadcast_address))]
    except ValueError as exc:
        raise FilterError(f"packet filter: {entry!r} is not an IP, CIDR, range or '*'") from exc


def _union(sets: Iterable[IPSet]) -> IPSet:
    return IPSet((v, lo, hi) for ips in sets for v in (4, 6) for lo, hi in ips.intervals(v))


@dataclass(frozen=True)
class CompiledRule:
    index: int
    sources: IPSet
    destinations: tuple[tuple[IPSet, int, int], ...]
    protos: frozenset[int]

    def admits(self, src: IPAddress, dst: IPAddress, proto: int, port: int) -> bool:
        """tailscaled's three match kinds: ported, ICMP (IPs only), other (all ports only)."""
        if src not in self.sources:
            return False
        if proto in ICMP_PROTOS:  # "if any port is open to an IP, allow ICMP to it"
            return any(dst in ips for ips, _, _ in self.destinations)
        if proto not in self.protos:
            return False
        if proto in PORTED_PROTOS:
            return any(dst in ips and lo <= port <= hi for ips, lo, hi in self.destinations)
        return any(dst in ips and (lo, hi) == ALL_PORTS for ips, lo, hi in self.destinations)


def compile_rule(index: int, rule: Mapping[str, Any]) -> CompiledRule:
    dsts: list[tuple[IPSet, int, int]] = []
    for dp in rule.get("DstPorts") or []:
        ports = dp.get("Ports") or {}
        lo, hi = int(ports.get("First", 0)), int(ports.get("Last", 65535))
        dsts.append((IPSet.parse([str(dp.get("IP", ""))]), lo, hi))
    protos = frozenset(int(p) for p in rule.get("IPProto") or []) or DEFAULT_PROTOS
    return CompiledRule(index, IPSet.parse(rule.get("SrcIPs") or []), tuple(dsts), protos)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: int | None
    reason: str


class PacketFilter:
    """A compiled filter; default deny."""

    def __init__(self, rules: Sequence[Mapping[str, Any]] = ()) -> None:
        self.rules = [compile_rule(i, rule) for i, rule in enumerate(rules)]
        self._by_src = IntervalIndex([r.sources for r in self.rules])
        self._by_dst = IntervalIndex(
            [_union(ips for ips, _, _ in r.destinations) for r in self.rules]
        )
        self._by_proto: dict[int, int] = {}
        for r in self.rules:
            for proto in r.protos:
                self._by_proto[proto] = self._by_proto.get(proto, 0) | (1 << r.index)
        self._flows: OrderedDict[tuple[int, IPAddress, int, IPAddress, int], None] = OrderedDict()

    def match(self, src: IPAddress, dst: IPAddress, proto: int, port: int = 0) -> int | None:
        """The index of the first rule admitting this packet, or None."""
        if src.version != dst.version:
            return None
        candidates = self._by_src.lookup(src) & self._by_dst.lookup(dst)
        if proto not in ICMP_PROTOS:
            candidates &= self._by_proto.get(proto, 0)
        while candidates:
            lowest = candidates & -candidates
            rule = self.rules[lowest.bit_length() - 1]
            if rule.admits(src, dst, proto, port):
                return rule.index
            candidates ^= lowest
        return None

    def check_in(self, pkt: Packet) -> Verdict:
        """The verdict for a packet arriving from the tunnel."""
        if pkt.proto == PROTO_TCP and not pkt.is_tcp_syn:
            return Verdict(True, None, "tcp non-syn")
        if pkt.proto in (PROTO_ICMP, PROTO_ICMPV6) and (pkt.is_echo_reply or pkt.is_icmp_error):
            return Verdict(True, None, "icmp response ok")
        if pkt.proto in PORTED_PROTOS - {PROTO_TCP}:
            key = (pkt.proto, pkt.dst, pkt.dport, pkt.src, pkt.sport)
            if key in self._flows:
                self._flows.move_to_end(key)
                return Verdict(True, None, "udp cached")
        index = self.match(pkt.src, pkt.dst, pkt.proto, pkt.dport)
        if index is None:
            return Verdict(False, None, "no rule matched")
        return Verdict(True, index, f"rule {index}")

    def note_out(self, pkt: Packet) -> None:
        """Remember an outgoing UDP/SCTP flow so that its replies are let in."""
        if pkt.proto in PORTED_PROTOS - {PROTO_TCP}:
            key = (pkt.proto, pkt.src, pkt.sport, pkt.dst, pkt.dport)
            self._flows[key] = None
            self._flows.move_to_end(key)
            while len(self._flows) > FLOW_CACHE_SIZE:
                self._flows.popitem(last=False)

    def copy_flows_from(self, other: PacketFilter) -> None:
        """Keep the return-traffic state across a filter update."""
        self._flows = other._flows
