"""Text renderings of an access graph: SVG, Graphviz DOT and Mermaid.

The HTML page is :mod:`tailcfg.policy.graph.page`.

All renderers are pure and deterministic: the same graph gives the same bytes.
"""

from __future__ import annotations

import html
import json

from tailcfg.policy.graph.layout import FONT, Layout, layout
from tailcfg.policy.graph.model import AccessGraph, Edge, Vertex

KIND_LABEL = {"ip": "network", "ssh": "SSH", "app": "app capability"}

SVG_STYLE = """
.tg-head{font-weight:700;fill:#111827}
.tg-kind{font-size:11px;fill:#374151;text-transform:uppercase;letter-spacing:.06em}
.tg-v rect{fill:#f3f4f6;stroke:#4b5563;stroke-width:1}
.tg-v text{fill:#111827}
.tg-v.k-group rect{fill:#e0e7ff}.tg-v.k-tag rect{fill:#dcfce7}.tg-v.k-user rect{fill:#fef3c7}
.tg-v.k-autogroup rect{fill:#fae8ff}.tg-v.k-host rect,.tg-v.k-ip rect{fill:#e0f2fe}
.tg-e path{fill:none;stroke-width:2}
.tg-e.x-ip path{stroke:#1d4ed8}.tg-e.x-ssh path{stroke:#9a3412;stroke-dasharray:7 4}
.tg-e.x-app path{stroke:#047857;stroke-dasharray:2 3}
.tg-l{font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}
.tg-l.x-ip{fill:#1e3a8a}.tg-l.x-ssh{fill:#7c2d12}.tg-l.x-app{fill:#065f46}
.tg-v:focus rect,.tg-v.on rect{stroke:#111827;stroke-width:3}
.tg-e:focus path,.tg-e.on path{stroke-width:4}
.tg-dim{opacity:.2}
"""


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def short(text: str, limit: int = 40) -> str:
    """A label cut to ``limit`` characters (the whole one is in the title and details)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def edge_text(e: Edge) -> str:
    """One line for people: ``group:admins → tag:server: network tcp:22,443``."""
    return f"{e.src} → {e.dst}: {KIND_LABEL[e.kind]} {e.label}"


def origins_text(e: Edge) -> str:
    return "; ".join(o.render() for o in e.origins)


def vertex_text(v: Vertex) -> str:
    members = ": " + ", ".join(v.members) if v.members else ""
    return f"{v.name} ({v.kind}){members}"


def _markers() -> str:
    out = []
    for kind, colour in (("ip", "#1d4ed8"), ("ssh", "#9a3412"), ("app", "#047857")):
        out.append(
            f'<marker id="tg-arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        )
    return "<defs>" + "".join(out) + "</defs>"


def _svg_body(lay: Layout) -> list[str]:
    out = []
    for h in lay.headings:
        cls = "tg-head" if h.text in ("sources", "destinations") else "tg-kind"
        out.append(f'<text class="{cls}" x="{h.x}" y="{h.y}">{esc(h.text)}</text>')
    out.append('<g class="tg-edges">')
    for c in lay.curves:
        e = c.edge
        label = esc(f"{edge_text(e)} — {origins_text(e)}")
        out.append(
            f'<g class="tg-e x-{e.kind}" id="{c.id}" data-src="{c.src.id}" '
            f'data-dst="{c.dst.id}" tabindex="0" aria-label="{label}">'
            f"<title>{label}</title>"
            f'<path d="{c.path}" marker-end="url(#tg-arrow-{e.kind})"/></g>'
        )
    out.append("</g>")
    for c in lay.curves:
        out.append(
            f'<text class="tg-l x-{c.edge.kind}" data-edge="{c.id}" '
            f'x="{c.label_x}" y="{c.label_y}" '
            f'text-anchor="end" aria-hidden="true">{esc(short(c.edge.label))}</text>'
        )
    for b in lay.boxes:
        v = b.vertex
        label = esc(vertex_text(v))
        out.append(
            f'<g class="tg-v k-{v.kind}" id="{b.id}" tabindex="0" aria-label="{label}">'
            f"<title>{label}</title>"
            f'<rect x="{b.x}" y="{b.y}" width="{b.w}" height="{b.h}" rx="5"/>'
            f'<text x="{b.x + 10}" y="{b.y + 17}">{esc(v.name)}</text></g>'
        )
    return out


def render_svg(graph: AccessGraph, *, standalone: bool = True) -> str:
    """The graph as one SVG element (with an XML declaration when ``standalone``)."""
    lay = layout(graph)
    title = f"Access graph of {graph.path}"
    desc = (
        f"{len(graph.sources)} sources, {len(graph.destinations)} destinations, "
        f"{len(graph.edges)} edges; solid blue: network, dashed orange: SSH, "
        "dotted green: app capabilities"
    )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="tg-graph" '
        f'viewBox="0 0 {lay.width} {lay.height}" width="{lay.width}" height="{lay.height}" '
        f'font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}" '
        f'role="group" aria-labelledby="tg-title tg-desc">'
        f'<title id="tg-title">{esc(title)}</title><desc id="tg-desc">{esc(desc)}</desc>'
        f"<style>{SVG_STYLE}</style>{_markers()}"
        f'<rect width="100%" height="100%" fill="#ffffff"/>'
    )
    body = "\n".join(_svg_body(lay))
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    return f"{xml}{head}\n{body}\n</svg>\n"


# ---- DOT ----------------------------------------------------------------------------


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


_DOT_STYLE = {
    "ip": 'color="#1d4ed8", fontcolor="#1e3a8a"',
    "ssh": 'color="#9a3412", fontcolor="#7c2d12", style=dashed',
    "app": 'color="#047857", fontcolor="#065f46", style=dotted',
}


def _dot_cluster(prefix: str, title: str, vertices: tuple[Vertex, ...]) -> list[str]:
    out = [f"  subgraph cluster_{prefix} {{", f"    label={_q(title)};"]
    kind = None
    for i, v in enumerate(vertices):
        if v.kind != kind:
            if kind is not None:
                out.append("    }")
            kind = v.kind
            out.append(f"    subgraph cluster_{prefix}_{kind} {{ label={_q(kind)};")
        tip = vertex_text(v)
        out.append(f"      {prefix}{i} [label={_q(v.name)}, tooltip={_q(tip)}];")
    if kind is not None:
        out.append("    }")
    out.append("  }")
    return out


def render_dot(graph: AccessGraph) -> str:
    """Graphviz DOT: sources and destinations in clusters by kind; SSH edges dashed."""
    out = [
        f"digraph {_q('access: ' + graph.path)} {{",
        "  rankdir=LR; node [shape=box, style=rounded, fontname=monospace];",
        "  edge [fontname=monospace, fontsize=10];",
    ]
    out += _dot_cluster("s", "sources", graph.sources)
    out += _dot_cluster("d", "destinations", graph.destinations)
    src = {v.name: f"s{i}" for i, v in enumerate(graph.sources)}
    dst = {v.name: f"d{i}" for i, v in enumerate(graph.destinations)}
    for e in graph.edges:
        out.append(
            f"  {src[e.src]} -> {dst[e.dst]} [label={_q(e.label)}, "
            f"tooltip={_q(origins_text(e))}, {_DOT_STYLE[e.kind]}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


# ---- Mermaid ------------------------------------------------------------------------


def _mq(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def render_mermaid(graph: AccessGraph) -> str:
    """A Mermaid flowchart: subgraphs for sources and destinations; SSH edges dotted."""
    out = ["flowchart LR"]
    for prefix, title, vertices in (
        ("s", "sources", graph.sources),
        ("d", "destinations", graph.destinations),
    ):
        out.append(f"  subgraph {prefix}[{_mq(title)}]")
        for i, v in enumerate(vertices):
            out.append(f"    {prefix}{i}[{_mq(v.name)}]")
        out.append("  end")
    src = {v.name: f"s{i}" for i, v in enumerate(graph.sources)}
    dst = {v.name: f"d{i}" for i, v in enumerate(graph.destinations)}
    for e in graph.edges:
        arrow = "-.->" if e.kind == "ssh" else "==>" if e.kind == "app" else "-->"
        label = f"{'ssh ' if e.kind == 'ssh' else ''}{e.label}"
        out.append(f"  {src[e.src]} {arrow}|{_mq(label)}| {dst[e.dst]}")
    for e in graph.edges:
        out.append(f"  %% {src[e.src]} -> {dst[e.dst]}: {origins_text(e)}")
    return "\n".join(out) + "\n"
