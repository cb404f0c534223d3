"""The shapes of a diff's facts (see :mod:`tailcfg.policy.diff.access`) and interval helpers.

- :data:`Facts`: ``(src, dst) -> {proto: [(first, last), ...]}`` with merged port ranges;
  ``src`` is ``("dev", name)`` or ``("net", family, lo, hi)``, ``dst`` is
  ``("dev", name)`` or ``("net", router, family, lo, hi)``.
- :class:`Delta`: access gained and lost, SSH verdict changes, routed space per router,
  capabilities gained and lost.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tailcfg.policy.model.addrs import Interval

OTHER_LOGIN = "\x00other"  # any login no sshUsers map names

SrcKey = tuple[Any, ...]
DstKey = tuple[Any, ...]
PortMap = dict[int, list[tuple[int, int]]]
Facts = dict[tuple[SrcKey, DstKey], PortMap]
CapFacts = dict[tuple[SrcKey, DstKey], set[str]]


@dataclass(slots=True)
class Delta:
    """Access gained and lost (facts, see the module docstring), SSH verdict changes, and
    application capabilities gained and lost (:mod:`tailcfg.policy.diff.caps`)."""

    gained: Facts = field(default_factory=dict)
    lost: Facts = field(default_factory=dict)
    ssh: dict[tuple[str, str, str], tuple[str | None, str | None]] = field(default_factory=dict)
    served: dict[str, list[Interval]] = field(default_factory=dict)  # router -> routed space
    caps_gained: CapFacts = field(default_factory=dict)
    caps_lost: CapFacts = field(default_factory=dict)


def segments(cuts: Iterable[Interval], space: Sequence[Interval]) -> list[Interval]:
    """Split ``space`` (merged, one family) at every boundary of ``cuts``."""
    out: list[Interval] = []
    cut_list = list(cuts)
    for v, lo, hi in space:
        points = {lo, hi + 1}
        for _, a, b in cut_list:
            if a > lo and a <= hi:
                points.add(a)
            if b + 1 > lo and b + 1 <= hi:
                points.add(b + 1)
        ordered = sorted(points)
        out.extend((v, a, b - 1) for a, b in itertools.pairwise(ordered))
    return out


def subtract(space: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """``space`` without ``holes`` (per family; pieces in order)."""
    out: list[Interval] = []
    for v, lo, hi in space:
        pieces = [(lo, hi)]
        for hv, hlo, hhi in holes:
            if hv != v:
                continue
            nxt = []
            for a, b in pieces:
                if hhi < a or hlo > b:
                    nxt.append((a, b))
                    continue
                if a < hlo:
                    nxt.append((a, hlo - 1))
                if hhi < b:
                    nxt.append((hhi + 1, b))
            pieces = nxt
        out.extend((v, a, b) for a, b in pieces)
    return out


def within(keys: Sequence[tuple[int, int]], iv: Interval) -> range:
    """Indices of the (sorted, elementary) atoms, keyed ``(family, lo)``, inside ``iv``."""
    i = bisect.bisect_left(keys, (iv[0], iv[1]))
    j = bisect.bisect_right(keys, (iv[0], iv[2]))
    return range(i, j)
