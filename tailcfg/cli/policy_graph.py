"""Policy commands: graph (who may reach what, as HTML, SVG, DOT or Mermaid)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.atomicfile import atomic_write_text
from tailcfg.policy.graph.build import graph_file, render_graph


class GraphFormat(StrEnum):
    html = "html"
    svg = "svg"
    dot = "dot"
    mermaid = "mermaid"


def graph_cmd(
    policy: Annotated[Path, typer.Argument(metavar="POLICY", help="The policy file.")],
    nodes: Annotated[
        Path | None,
        typer.Option("--nodes", metavar="NODES", help="Topology: JSON/YAML list of devices."),
    ] = None,
    fmt: Annotated[GraphFormat, typer.Option("--format", help="Output format.")] = GraphFormat.html,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="Write here (atomically)."),
    ] = None,
) -> int:
    """Draw the access graph of POLICY: identities to destinations, SSH, and a matrix."""
    text = render_graph(graph_file(policy, nodes_path=nodes), fmt.value)
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
    return 0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("graph")(graph_cmd)
