"""The access graph of a policy: who may reach what, and which rule says so.

Takes a loaded policy and optionally the devices; gives an :class:`AccessGraph` (identity
edges from the rules, the device matrix from the compiled filters) and its HTML, SVG,
DOT and Mermaid renderings.
"""

from tailcfg.policy.graph.build import AccessGraph, build_graph, graph_file, render_graph

__all__ = ["AccessGraph", "build_graph", "graph_file", "render_graph"]
