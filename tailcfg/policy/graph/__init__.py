"""The access graph of a policy: who may reach what, and which rule says so.

Takes: a loaded policy and, optionally, the devices.
Gives: an AccessGraph (identity edges, device matrix) and its HTML/SVG/DOT/Mermaid forms.
"""

from tailcfg.policy.graph.build import AccessGraph, build_graph, graph_file, render_graph

__all__ = ["AccessGraph", "build_graph", "graph_file", "render_graph"]
