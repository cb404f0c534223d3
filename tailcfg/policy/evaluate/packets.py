"""Run a policy's ``tests`` block: does ``src`` reach each ``accept`` and no ``deny``?

Each source device (every device of the src identity, or the src address) must reach
every destination device (all devices of a tag; for an address, the device holding it
or a router covering it) for an ``accept`` to hold, and none may for a ``deny``. A
device reaches another when its IPv4 or its IPv6 address is admitted by the packet
filter the destination enforces (same-family pairs only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailcfg.policy.evaluate.filter_match import Addr
from tailcfg.policy.evaluate.provenance import Provenance
from tailcfg.policy.evaluate.spec import (
    PORTED,
    TEST_KEYS,
    Alias,
    Dst,
    Kind,
    check_dst,
    check_src,
    parse_proto,
    self_dst_allowed,
    single_host_ip,
    unknown_keys,
)
from tailcfg.policy.evaluate.verdicts import Outcome, RuleRef, TestEntry, TestResult
from tailcfg.policy.evaluate.world import Holder, SrcPoint, World
from tailcfg.policy.model import addrs
from tailcfg.policy.model.policy import PolicyTest, Ref


def src_points(alias: Alias, world: World) -> list[SrcPoint] | str:
    """The sources a (valid) src alias stands for, or why it stands for none."""
    if alias.kind in (Kind.IP, Kind.HOST):
        literal = world.names.hosts[alias.text] if alias.kind is Kind.HOST else alias.text
        iv = addrs.parse_interval(literal)
        if iv is None or iv[1] != iv[2]:
            return f"src {alias.text!r} is a network, not one host"
        return [SrcPoint(alias.text, ((iv[0], iv[1]),), world.resolver.node_by_ip(literal))]
    devices = world.devices(alias.text)
    if not devices:
        return f"src {alias.text!r} has no devices"
    return [world.src_point(n) for n in devices]


def dst_targets(dst: Dst, world: World, src: SrcPoint) -> list[list[Holder]]:
    """Each destination device as a list of alternative holders (routers of an address)."""
    alias = dst.alias
    if alias.kind in (Kind.TAG, Kind.USER, Kind.GROUP):
        return [[world.device_holder(n)] for n in world.devices(alias.text)]
    if alias.text == "autogroup:self":
        owned = world.same_owner(src.node) if src.node is not None else ()
        return [[world.device_holder(n)] for n in owned]
    if alias.kind is Kind.SERVICE:
        vips = world.resolver.service_intervals(alias.text)
        return [world.holders(addrs.render(vips[0]))] if vips else [[]]
    literal = alias.text
    if alias.kind is Kind.HOST:
        literal = single_host_ip(world.names.hosts[alias.text]) or ""
    return [world.holders(literal)]


def reaches(
    world: World, src: SrcPoint, holder: Holder, port: int, protos: frozenset[int]
) -> tuple[Addr, Addr] | None:
    """The first (src, dst) address pair holder's filter admits, or None."""
    pf = world.packet_filter(holder.node)
    for s in src.addrs:
        for d in holder.addrs:
            if s[0] == d[0] and pf.admits(s, d, port, protos):
                return s, d
    return None


def _device_reaches(
    world: World, src: SrcPoint, holder: Holder, port: int, protos: frozenset[int]
) -> tuple[Addr, Addr] | None:
    """:func:`reaches` for a device source, from the holder's admitted-device masks."""
    assert src.node is not None
    bit = world.bit(src.node)
    pf = world.packet_filter(holder.node)
    for s in src.addrs:
        if sum(1 for a in src.addrs if a[0] == s[0]) != 1:
            return reaches(world, src, holder, port, protos)  # the mask cannot tell which
        for d in holder.addrs:
            if s[0] == d[0] and pf.admitted_devices(d, port, protos, world.index) & bit:
                return s, d
    return None


@dataclass(slots=True)
class _Pairs:
    """Source device x destination device verdicts: counts, and a few samples of each."""

    allowed: list[tuple[SrcPoint, Holder, Addr, Addr]] = field(default_factory=list)
    denied: list[tuple[SrcPoint, list[Holder]]] = field(default_factory=list)
    n_allowed: int = 0
    n_denied: int = 0
    # denied sources not yet listed in ``denied``: (srcset, mask, target), read on demand
    pending: list[tuple[SrcSet, int, list[Holder]]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.n_allowed + self.n_denied

    def samples(self, limit: int = 3) -> list[tuple[SrcPoint, list[Holder]]]:
        """The first ``limit`` denied (source, destination) pairs, in evaluation order."""
        out = self.denied[:limit]
        for srcset, bad, target in self.pending:
            if len(out) >= limit:
                break
            out.extend((sp, target) for sp in srcset.some(bad, limit - len(out)))
        return out


@dataclass(frozen=True, slots=True)
class SrcSet:
    """A src identity's devices as world bitmask bits (when every source is a device)."""

    points: list[SrcPoint]
    by_bit: dict[int, SrcPoint]
    mask: int

    @classmethod
    def of(cls, world: World, points: list[SrcPoint]) -> SrcSet | None:
        if not all(sp.node is not None for sp in points):
            return None
        by_bit = {world.bit(sp.node): sp for sp in points if sp.node is not None}
        mask = 0
        for b in by_bit:
            mask |= b
        return cls(points, by_bit, mask)

    def some(self, mask: int, limit: int) -> list[SrcPoint]:
        """Up to ``limit`` sources in ``mask`` (lowest bits first)."""
        out: list[SrcPoint] = []
        while mask and len(out) < limit:
            low = mask & -mask
            out.append(self.by_bit[low])
            mask ^= low
        return out


def admitted_mask(world: World, target: list[Holder], port: int, protos: frozenset[int]) -> int:
    """Devices reaching (any holder of) this destination: a bitmask over the world."""
    admitted = 0
    for holder in target:
        pf = world.packet_filter(holder.node)
        for d in holder.addrs:
            admitted |= pf.admitted_devices(d, port, protos, world.index)
    return admitted


def evaluate_pairs(
    world: World,
    points: list[SrcPoint],
    dst: Dst,
    protos: frozenset[int],
    *,
    srcset: SrcSet | None = None,
    targets: list[list[Holder]] | None = None,
) -> _Pairs:
    if dst.alias.text != "autogroup:self":
        srcset = srcset or SrcSet.of(world, points)
        if srcset is not None:
            targets = targets if targets is not None else dst_targets(dst, world, points[0])
            return _device_pairs(world, srcset, targets, dst.port, protos)
    out = _Pairs()
    fixed = None if dst.alias.text == "autogroup:self" else dst_targets(dst, world, points[0])
    for sp in points:
        for target in fixed if fixed is not None else dst_targets(dst, world, sp):
            hit = None
            for holder in target:
                pair = reaches(world, sp, holder, dst.port, protos)
                if pair is not None:
                    hit = (sp, holder, *pair)
                    break
            if hit is not None:
                out.allowed.append(hit)
                out.n_allowed += 1
            else:
                out.denied.append((sp, target))
                out.n_denied += 1
    return out


def _device_pairs(
    world: World,
    srcset: SrcSet,
    targets: list[list[Holder]],
    port: int,
    protos: frozenset[int],
    masks: Sequence[int] | None = None,
) -> _Pairs:
    """All sources are devices: whole sets at once, as bitmasks over the world's devices.

    ``masks`` are the targets' :func:`admitted_mask` values when already known.
    """
    n_src, src_mask = len(srcset.points), srcset.mask
    if masks is None:
        masks = [admitted_mask(world, target, port, protos) for target in targets]
    n_allowed = n_denied = 0
    allowed: list[tuple[SrcPoint, Holder, Addr, Addr]] = []
    pending: list[tuple[SrcSet, int, list[Holder]]] = []
    for target, admitted in zip(targets, masks, strict=True):
        ok = src_mask & admitted
        if ok == src_mask:
            n_allowed += n_src
        elif not ok:
            n_denied += n_src
        else:
            n_ok = ok.bit_count()
            n_allowed += n_ok
            n_denied += n_src - n_ok
        if ok:
            sp = srcset.by_bit[ok & -ok]
            for holder in target:
                pair = _device_reaches(world, sp, holder, port, protos)
                if pair is not None:
                    allowed.append((sp, holder, *pair))
                    break
        if ok != src_mask and len(pending) < 3:
            pending.append((srcset, src_mask ^ ok, target))
    return _Pairs(allowed, [], n_allowed, n_denied, pending)


def _describe_denied(world: World, pairs: _Pairs) -> str:
    if pairs.n_denied == pairs.total:
        return "no rule matches"
    names = [f"{sp.label} -> {world.label(t[0].node) if t else '?'}" for sp, t in pairs.samples()]
    more = f" and {pairs.n_denied - 3} more" if pairs.n_denied > 3 else ""
    return f"no rule matches for {', '.join(names)}{more} ({pairs.n_denied} of {pairs.total} pairs)"


class TestsRunner:
    """Evaluates ``tests`` entries in one world."""

    __test__ = False  # not a pytest class

    def __init__(self, world: World, prov: Provenance) -> None:
        self.world = world
        self.prov = prov
        self._points: dict[str, list[SrcPoint] | str] = {}
        self._srcsets: dict[str, SrcSet | None] = {}
        self._targets: dict[str, list[list[Holder]]] = {}
        self._srcs: dict[str, Alias | str] = {}
        self._protos: dict[str | None, frozenset[int] | str] = {}
        self._dsts: dict[tuple[str, bool, bool], Dst | str] = {}
        self._admitted: dict[tuple[str, int, frozenset[int]], list[int]] = {}
        self._granting: dict[tuple[Any, ...], tuple[RuleRef, ...]] = {}
        self._unknown: dict[tuple[str, ...], str | None] = {}
        self._rendered: dict[int, tuple[tuple[RuleRef, ...], str]] = {}

    def _unknown_keys(self, raw: Mapping[str, object]) -> str | None:
        keys = tuple(raw)
        if keys not in self._unknown:
            self._unknown[keys] = unknown_keys(raw, TEST_KEYS)
        return self._unknown[keys]

    def _check_src(self, text: str) -> Alias | str:
        hit = self._srcs.get(text)
        if hit is None:
            hit = self._srcs[text] = check_src(text, self.world.names)
        return hit

    def entry(self, t: PolicyTest) -> TestEntry:
        src_text = t.src.text if t.src is not None else ""
        results = self._results(t, src_text)
        return TestEntry("tests", t.index, t, src_text, tuple(results))

    def _invalid(
        self,
        t: PolicyTest,
        reason: str,
        *,
        ref: Ref | None = None,
        expected: Outcome = Outcome.ACCEPT,
    ) -> TestResult:
        return TestResult(
            section="tests",
            entry=t.index,
            where=ref if ref is not None else t,
            src=t.src.text if t.src is not None else "",
            dst=ref.text if ref is not None else "",
            proto=t.proto.text if t.proto is not None else None,
            login=None,
            expected=expected,
            actual=Outcome.INVALID,
            passed=False,
            reason=f"invalid test: {reason}",
        )

    def _results(self, t: PolicyTest, src_text: str) -> list[TestResult]:
        problem = self._unknown_keys(t.raw) if t.raw else None
        if t.src is None:
            problem = problem or "test has no src"
        if not t.accept and not t.deny:
            problem = problem or "test has neither accept nor deny"
        src = self._check_src(src_text) if problem is None else problem
        proto_text = t.proto.text if t.proto is not None else None
        protos = self._protos.get(proto_text)
        if protos is None:
            protos = self._protos[proto_text] = parse_proto(proto_text)
        if isinstance(protos, str) and not isinstance(src, str):
            src = protos
        if isinstance(src, str):
            return [self._invalid(t, src)]
        assert not isinstance(protos, str)
        points = self._points.get(src.text)
        if points is None:
            points = self._points[src.text] = src_points(src, self.world)
        out = []
        for expected, refs in ((Outcome.ACCEPT, t.accept), (Outcome.DENY, t.deny)):
            for ref in refs:
                if isinstance(points, str):
                    out.append(self._invalid(t, points, ref=ref, expected=expected))
                    continue
                out.append(self._assertion(t, src, points, ref, expected, protos))
        return out

    def _assertion(
        self,
        t: PolicyTest,
        src: Alias,
        points: list[SrcPoint],
        ref: Ref,
        expected: Outcome,
        protos: frozenset[int],
    ) -> TestResult:
        portless = not (protos & PORTED)
        key = (ref.text, self_dst_allowed(src), portless)
        dst = self._dsts.get(key)
        if dst is None:
            names = self.world.names
            dst = self._dsts[key] = check_dst(ref.text, names, src, portless=portless)
        if isinstance(dst, str):
            return self._invalid(t, dst, ref=ref, expected=expected)
        srcset = self._srcsets.get(src.text)
        if srcset is None:
            srcset = self._srcsets[src.text] = SrcSet.of(self.world, points)
        if srcset is not None and dst.alias.text != "autogroup:self":
            pairs = self._device_pairs(srcset, dst, points, protos)
        else:
            pairs = evaluate_pairs(self.world, points, dst, protos, srcset=srcset)
        if pairs.total == 0:
            return self._invalid(t, f"dst {ref.text!r} has no devices", ref=ref, expected=expected)
        rules = self._rules(pairs, dst.port, protos)
        actual = Outcome.ACCEPT if not pairs.n_denied else Outcome.DENY
        head = f"{src.text} -> {ref.text}"
        if expected is Outcome.ACCEPT:
            passed = not pairs.n_denied
            if passed:
                reason = f"{head}: accepted by {self._render(rules)}"
            else:
                reason = f"{head}: expected accept, denied: {_describe_denied(self.world, pairs)}"
        else:
            passed = not pairs.n_allowed
            actual = Outcome.DENY if passed else Outcome.ACCEPT
            if passed:
                reason = f"{head}: denied: no rule matches"
            else:
                reason = f"{head}: expected deny, accepted by {self._render(rules)}"
        return TestResult(
            section="tests",
            entry=t.index,
            where=ref,
            src=src.text,
            dst=ref.text,
            proto=t.proto.text if t.proto is not None else None,
            login=None,
            expected=expected,
            actual=actual,
            passed=passed,
            reason=reason,
            rules=rules,
        )

    def _device_pairs(
        self, srcset: SrcSet, dst: Dst, points: list[SrcPoint], protos: frozenset[int]
    ) -> _Pairs:
        """:func:`_device_pairs` with the targets and their admitted masks cached per run."""
        text = dst.alias.text
        targets = self._targets.get(text)
        if targets is None:
            targets = self._targets[text] = dst_targets(dst, self.world, points[0])
        key = (text, dst.port, protos)
        masks = self._admitted.get(key)
        if masks is None:
            masks = [admitted_mask(self.world, t, dst.port, protos) for t in targets]
            self._admitted[key] = masks
        return _device_pairs(self.world, srcset, targets, dst.port, protos, masks)

    def _rules(self, pairs: _Pairs, port: int, protos: frozenset[int]) -> tuple[RuleRef, ...]:
        """The policy rules behind the allowed samples (each distinct address pair once)."""
        allowed = pairs.allowed
        if len(allowed) == 1:
            return self._granted(*allowed[0], port, protos)
        out: dict[RuleRef, None] = {}
        seen: set[tuple[Addr, Addr]] = set()
        for sp, holder, s, d in allowed:
            if (s, d) in seen:
                continue
            seen.add((s, d))
            for ref in self._granted(sp, holder, s, d, port, protos):
                out.setdefault(ref)
        return tuple(out)

    def _render(self, rules: tuple[RuleRef, ...]) -> str:
        """:func:`_refs`, memoised per cached tuple (they live as long as the runner)."""
        hit = self._rendered.get(id(rules))
        if hit is None or hit[0] is not rules:
            hit = self._rendered[id(rules)] = (rules, _refs(rules))
        return hit[1]

    def _granted(
        self, sp: SrcPoint, holder: Holder, s: Addr, d: Addr, port: int, protos: frozenset[int]
    ) -> tuple[RuleRef, ...]:
        key = (s, d, port, protos, sp.node.name if sp.node is not None else None, holder.node.name)
        refs = self._granting.get(key)
        if refs is None:
            found = self.prov.granting(s, d, port, protos, src_node=sp.node, dst_node=holder.node)
            refs = self._granting[key] = tuple(dict.fromkeys(found))
        return refs


def _refs(rules: Sequence[RuleRef]) -> str:
    if not rules:
        return "the compiled filter (rule not traced)"
    return ", ".join(r.render() for r in rules)
