"""The access graph as one self-contained HTML page (inline CSS, JS and SVG; no fetches).

:func:`html_parts` gives the pieces (CSS, body, script) so that the control plane's
console can embed the same view in its own page; :func:`render_html` wraps them in a
whole document. Hovering over or focusing (Tab) an edge, an identity or a matrix cell
shows its rules with ``file:line`` in a live region; the edges are also listed in a
table, and the matrix is a table with row and column headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tailcfg.policy.graph.layout import layout
from tailcfg.policy.graph.model import AccessGraph, Cell
from tailcfg.policy.graph.render import (
    KIND_LABEL,
    edge_text,
    esc,
    render_svg,
    vertex_text,
)

CSS = """
.tg{color:#111827;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.tg h2{font-size:1.2rem;margin:1.4rem 0 .5rem}
.tg a{color:#1d4ed8}
.tg-legend span{display:inline-block;margin-right:1.2rem}
.tg-legend .ip{color:#1e3a8a}.tg-legend .ssh{color:#7c2d12}.tg-legend .app{color:#065f46}
.tg-wrap{overflow:auto;border:1px solid #d1d5db;border-radius:6px;max-height:80vh}
.tg-detail{position:sticky;bottom:0;background:#fffbeb;border:1px solid #b45309;
 border-radius:6px;padding:.5rem .8rem;margin:.6rem 0;min-height:2.6rem}
.tg-detail ul{margin:.2rem 0 0 1.2rem;padding:0}
.tg table{border-collapse:collapse;margin:.4rem 0}
.tg caption{text-align:left;font-weight:600;padding:.3rem 0;color:#374151}
.tg th,.tg td{border:1px solid #d1d5db;padding:.3rem .5rem;text-align:left;vertical-align:top}
.tg thead th{background:#f3f4f6}
.tg tbody th{background:#f9fafb;white-space:nowrap}
.tg-scroll{overflow:auto}
.tg-matrix td{min-width:5rem;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.tg-matrix td.has{background:#eff6ff}
.tg-matrix .tg-ssh{display:block;color:#7c2d12}
.tg-matrix .tg-none{color:#4b5563}
.tg [tabindex]:focus{outline:3px solid #b45309;outline-offset:2px}
.tg-table tr.on td{background:#fef3c7}
.tg code{font-family:ui-monospace,Menlo,Consolas,monospace}
.tg-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
"""

SCRIPT = """
(function(){
  var root=document.getElementById('tg-root');
  if(!root)return;
  var data=JSON.parse(document.getElementById('tg-data').textContent);
  var panel=document.getElementById('tg-detail');
  function show(title,lines){
    panel.textContent='';
    var b=document.createElement('strong');b.textContent=title;panel.appendChild(b);
    if(lines&&lines.length){
      var ul=document.createElement('ul');
      lines.forEach(function(l){
        var li=document.createElement('li');li.textContent=l;ul.appendChild(li);
      });
      panel.appendChild(ul);
    }
  }
  function clear(){
    root.querySelectorAll('.on').forEach(function(n){n.classList.remove('on');});
    root.querySelectorAll('.tg-dim').forEach(function(n){n.classList.remove('tg-dim');});
  }
  function focusEdges(edges){
    var keep={};
    edges.forEach(function(e){keep[e.id]=1;keep[e.dataset.src]=1;keep[e.dataset.dst]=1;});
    root.querySelectorAll('.tg-e,.tg-v').forEach(function(n){
      if(keep[n.id]){n.classList.add('on');}else{n.classList.add('tg-dim');}
    });
    root.querySelectorAll('.tg-l').forEach(function(n){
      if(!keep[n.dataset.edge]){n.classList.add('tg-dim');}
    });
    edges.forEach(function(e){
      var r=document.getElementById('row-'+e.id);if(r)r.classList.add('on');
    });
  }
  function onEdge(e){clear();focusEdges([e]);var d=data[e.id];show(d.title,d.lines);}
  function onVertex(v){
    clear();
    var es=Array.prototype.filter.call(root.querySelectorAll('.tg-e'),function(e){
      return e.dataset.src===v.id||e.dataset.dst===v.id;});
    focusEdges(es);
    var d=data[v.id];show(d.title,d.lines);
  }
  function onCell(c){
    clear();c.classList.add('on');show(c.dataset.title,JSON.parse(c.dataset.lines));
  }
  function bind(sel,fn){
    root.querySelectorAll(sel).forEach(function(n){
      n.addEventListener('mouseenter',function(){fn(n);});
      n.addEventListener('focus',function(){fn(n);});
    });
  }
  bind('.tg-e',onEdge);bind('.tg-v',onVertex);bind('.tg-matrix td.has',onCell);
  root.querySelectorAll('.tg-table tr[data-edge]').forEach(function(r){
    r.addEventListener('mouseenter',function(){onEdge(document.getElementById(r.dataset.edge));});
  });
})();
"""


@dataclass(frozen=True, slots=True)
class HtmlParts:
    css: str
    body: str
    script: str


def _data(graph: AccessGraph) -> str:
    lay = layout(graph)
    data: dict[str, dict[str, object]] = {}
    for c in lay.curves:
        data[c.id] = {
            "title": edge_text(c.edge),
            "lines": [f"granted by {o.render()}" for o in c.edge.origins],
        }
    for b in lay.boxes:
        v = b.vertex
        data[b.id] = {"title": vertex_text(v), "lines": list(v.members)}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=None)
    return text.replace("</", "<\\/")


def _rules_table(graph: AccessGraph) -> str:
    ids = {(c.edge.src, c.edge.dst, c.edge.kind): c.id for c in layout(graph).curves}
    rows = []
    for e in graph.edges:
        eid = ids[(e.src, e.dst, e.kind)]
        origins = "<br>".join(f"<code>{esc(o.render())}</code>" for o in e.origins)
        rows.append(
            f'<tr id="row-{eid}" data-edge="{eid}"><th scope="row">{esc(e.src)}</th>'
            f"<td>{esc(e.dst)}</td><td>{esc(KIND_LABEL[e.kind])}</td>"
            f"<td><code>{esc(e.label)}</code></td><td>{origins}</td></tr>"
        )
    return (
        '<table class="tg-table"><caption>Every edge of the graph and the rules that grant it'
        "</caption><thead><tr>"
        '<th scope="col">Source</th><th scope="col">Destination</th><th scope="col">Kind</th>'
        '<th scope="col">Ports / logins</th><th scope="col">Granted by</th>'
        "</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def _cell(src: str, dst: str, cell: Cell) -> str:
    if not cell:
        return (
            '<td><span class="tg-none" aria-hidden="true">·</span>'
            '<span class="tg-sr">no access</span></td>'
        )
    parts = []
    if cell.ports:
        parts.append(f'<span class="tg-ip">{esc(", ".join(cell.ports))}</span>')
    if cell.ssh:
        parts.append(f'<span class="tg-ssh">ssh {esc(", ".join(cell.ssh))}</span>')
    title = f"{src} → {dst}: " + "; ".join(
        [
            *(["ports " + ", ".join(cell.ports)] if cell.ports else []),
            *(["ssh " + ", ".join(cell.ssh)] if cell.ssh else []),
        ]
    )
    lines = json.dumps([f"granted by {o.render()}" for o in cell.origins], ensure_ascii=False)
    return (
        f'<td class="has" tabindex="0" data-title="{esc(title)}" data-lines="{esc(lines)}" '
        f'title="{esc(title + " — " + "; ".join(o.render() for o in cell.origins))}">'
        + "".join(parts)
        + "</td>"
    )


def matrix_table(graph: AccessGraph) -> str:
    """The matrix as a table: a header row of destinations, a header cell per source."""
    m = graph.matrix
    if not m.rows:
        return "<p>No devices to show: register one, or pass a topology (--nodes).</p>"
    what = "devices" if graph.topology else "identities (one stand-in device each)"
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in m.cols)
    rows = []
    for r in m.rows:
        cells = "".join(_cell(r, c, m.cell(r, c)) for c in m.cols)
        rows.append(f'<tr><th scope="row">{esc(r)}</th>{cells}</tr>')
    return (
        f'<div class="tg-scroll"><table class="tg-matrix"><caption>Access matrix: source '
        f"{esc(what)} (rows) × destinations (columns), from each destination's compiled "
        f"packet filter and SSH policy</caption><thead><tr><td></td>{head}</tr></thead>"
        "<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>"
    )


def html_parts(graph: AccessGraph, *, heading_level: int = 2) -> HtmlParts:
    """CSS, body and script of the graph view (``tg-`` prefixed classes and ids)."""
    h = f"h{heading_level}"
    notes = "".join(f"<p>Note: {esc(n)}.</p>" for n in graph.notes)
    body = (
        f'<div class="tg" id="tg-root">{notes}'
        f'<section aria-labelledby="tg-h-graph"><{h} id="tg-h-graph">Graph</{h}>'
        '<p class="tg-legend"><span class="ip">── network (ports)</span>'
        '<span class="ssh">- - SSH (action, logins)</span>'
        '<span class="app">··· app capabilities</span>'
        "Hover over or Tab to an edge or an identity for its rules.</p>"
        f'<div class="tg-wrap">{render_svg(graph, standalone=False)}</div>'
        '<div id="tg-detail" class="tg-detail" role="status" aria-live="polite">'
        "Hover over or focus an edge, an identity or a matrix cell to see the rules "
        "that grant it.</div></section>"
        f'<section aria-labelledby="tg-h-rules"><{h} id="tg-h-rules">Edges</{h}>'
        f"{_rules_table(graph)}</section>"
        f'<section aria-labelledby="tg-h-matrix"><{h} id="tg-h-matrix">Matrix</{h}>'
        f"{matrix_table(graph)}</section>"
        f'<script type="application/json" id="tg-data">{_data(graph)}</script></div>'
    )
    return HtmlParts(css=CSS, body=body, script=SCRIPT)


def render_html(graph: AccessGraph) -> str:
    """A whole HTML document: opens offline, fetches nothing."""
    parts = html_parts(graph)
    title = f"Access graph — {graph.path}"
    summary = (
        f"{len(graph.edges)} edges between {len(graph.sources)} sources and "
        f"{len(graph.destinations)} destinations; matrix of {len(graph.matrix.rows)} × "
        f"{len(graph.matrix.cols)} {'devices' if graph.topology else 'identities'}."
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title>"
        f"<style>body{{margin:1.5rem;background:#fff}}{parts.css}</style></head>\n"
        f'<body><main class="tg"><h1 style="font-size:1.5rem">'
        f"{esc(title)}</h1><p>{esc(summary)}</p>\n"
        f"{parts.body}\n</main><script>{parts.script}</script></body></html>\n"
    )
