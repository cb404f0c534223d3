"""Positions for drawing an access graph: sources left, destinations right, grouped by kind.

Pure arithmetic on a monospace grid (integers only, so the SVG is byte-for-byte stable).
"""

from __future__ import annotations

from dataclasses import dataclass

from tailcfg.policy.graph.model import AccessGraph, Edge, Vertex

CHAR = 8  # width of one character at FONT px, monospace (rounded up)
FONT = 13
BOX_H = 26
GAP = 8
HEADER_H = 24
TOP = 40
MARGIN = 16
MIDDLE = 360  # room for the edges and their labels
LABEL_H = 15

PLURAL = {
    "wildcard": "everyone (*)",
    "autogroup": "autogroups",
    "group": "groups",
    "user": "users",
    "tag": "tags",
    "host": "hosts",
    "ip": "addresses",
    "device": "devices",
}


@dataclass(frozen=True, slots=True)
class Box:
    id: str
    vertex: Vertex
    x: int
    y: int
    w: int
    h: int = BOX_H

    @property
    def mid_y(self) -> int:
        return self.y + self.h // 2


@dataclass(frozen=True, slots=True)
class Curve:
    id: str
    edge: Edge
    src: Box
    dst: Box
    path: str
    label_x: int
    label_y: int


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Layout:
    width: int
    height: int
    boxes: tuple[Box, ...]
    curves: tuple[Curve, ...]
    headings: tuple[Heading, ...]


def _column(
    vertices: tuple[Vertex, ...], prefix: str, x: int, w: int, fan_in: dict[str, int]
) -> tuple[list[Box], list[Heading], int]:
    """Boxes top to bottom; a destination is tall enough for one label per incoming edge."""
    boxes: list[Box] = []
    headings: list[Heading] = []
    y = TOP
    kind = None
    for i, v in enumerate(vertices):
        if v.kind != kind:
            kind = v.kind
            headings.append(Heading(PLURAL.get(kind, kind), x, y + 16))
            y += HEADER_H
        h = max(BOX_H, fan_in.get(v.name, 0) * LABEL_H + 8)
        boxes.append(Box(f"{prefix}{i}", v, x, y, w, h))
        y += h + GAP
    return boxes, headings, y


def _width(vertices: tuple[Vertex, ...]) -> int:
    longest = max((len(v.name) for v in vertices), default=4)
    return max(longest * CHAR + 20, 96)


def _curves(graph: AccessGraph, src: list[Box], dst: list[Box]) -> list[Curve]:
    """One curve per edge; each ends in its own slot of the destination, label above it."""
    by_src = {b.vertex.name: b for b in src}
    by_dst = {b.vertex.name: b for b in dst}
    incoming: dict[str, list[int]] = {}
    for i, e in enumerate(graph.edges):
        incoming.setdefault(e.dst, []).append(i)
    slot: dict[int, int] = {}
    for edges in incoming.values():
        ordered = sorted(edges, key=lambda i: (by_src[graph.edges[i].src].y, i))
        slot.update((i, k) for k, i in enumerate(ordered))
    out = []
    for i, e in enumerate(graph.edges):
        a, b = by_src[e.src], by_dst[e.dst]
        x1, x2 = a.x + a.w, b.x - 6
        y1 = a.mid_y
        n = len(incoming[e.dst])
        y2 = b.mid_y if n == 1 else b.y + 4 + slot[i] * LABEL_H + LABEL_H // 2 + 2
        bend = (x2 - x1) // 2
        path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
        out.append(Curve(f"e{i}", e, a, b, path, x2 - 12, y2 - 4))
    return out


def layout(graph: AccessGraph) -> Layout:
    """Boxes, curves and headings for ``graph`` (see the module docstring)."""
    lw, rw = _width(graph.sources), _width(graph.destinations)
    rx = MARGIN + lw + MIDDLE
    fan_in: dict[str, int] = {}
    for e in graph.edges:
        fan_in[e.dst] = fan_in.get(e.dst, 0) + 1
    src, src_heads, ly = _column(graph.sources, "s", MARGIN, lw, {})
    dst, dst_heads, ry = _column(graph.destinations, "d", rx, rw, fan_in)
    curves = _curves(graph, src, dst)
    heads = [Heading("sources", MARGIN, 20), Heading("destinations", rx, 20)]
    return Layout(
        width=rx + rw + MARGIN,
        height=max(ly, ry, TOP + BOX_H) + MARGIN,
        boxes=tuple(src + dst),
        curves=tuple(curves),
        headings=tuple(heads + src_heads + dst_heads),
    )
