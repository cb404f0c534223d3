"""The data of an access graph (see :mod:`tailcfg.policy.graph.build`): plain, immutable values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tailcfg.source import Span

# How identities are grouped, in display order.
KIND_ORDER = ("wildcard", "autogroup", "group", "user", "tag", "host", "ip", "device")


@dataclass(frozen=True, slots=True, order=True)
class Origin:
    """A rule of the policy file: ``grants[0]`` at ``policy.hujson:30``."""

    section: str
    index: int
    path: str = ""
    line: int = 0

    @property
    def name(self) -> str:
        return f"{self.section}[{self.index}]" if self.index >= 0 else self.section

    def render(self) -> str:
        return f"{self.path}:{self.line} {self.name}" if self.line else self.name


def origin_of(section: str, index: int, span: Span | None) -> Origin:
    if span is None:
        return Origin(section, index)
    return Origin(section, index, span.path, span.line)


@dataclass(frozen=True, slots=True)
class Vertex:
    """An identity or destination as the policy names it; ``members``: what it stands for."""

    name: str
    kind: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Edge:
    """Access from ``src`` to ``dst`` (vertex names): ``ip``, ``ssh`` or ``app``."""

    src: str
    dst: str
    kind: str
    labels: tuple[str, ...]
    origins: tuple[Origin, ...]

    @property
    def label(self) -> str:
        return ", ".join(self.labels)


@dataclass(frozen=True, slots=True)
class Cell:
    """What one device may open on another: ports (``tcp:22``), SSH logins, and why."""

    ports: tuple[str, ...] = ()
    ssh: tuple[str, ...] = ()
    origins: tuple[Origin, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ports or self.ssh)


@dataclass(frozen=True, slots=True)
class Matrix:
    """Devices as sources (rows) x devices as destinations (columns)."""

    rows: tuple[str, ...] = ()
    cols: tuple[str, ...] = ()
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, src: str, dst: str) -> Cell:
        return self.cells.get((src, dst), Cell())


@dataclass(frozen=True, slots=True)
class AccessGraph:
    """The whole picture of one policy (see the module docstring)."""

    path: str
    sources: tuple[Vertex, ...]
    destinations: tuple[Vertex, ...]
    edges: tuple[Edge, ...]
    matrix: Matrix
    topology: bool = False
    notes: tuple[str, ...] = ()

    def edges_from(self, src: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.src == src)


def ranges_text(ranges: Sequence[tuple[int, int]]) -> str:
    """Port ranges merged and sorted: ``22,80-89,443``; every port is ``*``."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    if merged == [(0, 65535)]:
        return "*"
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in merged)
