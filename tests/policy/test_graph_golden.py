"""Golden renderings of the access graph: ``tests/golden/graph/<case>.hujson`` in every format.

``<case>.<fmt>`` is the graph without devices (stand-ins for identities); when
``<case>.nodes.json`` exists, ``<case>-topology.<fmt>`` is the graph on those devices.
``TAILCFG_UPDATE_GOLDEN=1`` rewrites the files; review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tailcfg.policy.compile.engine import load_policy, users_of
from tailcfg.policy.graph.build import FORMATS, build_graph, render_graph
from tailcfg.policy.model.nodes import load_nodes

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "graph"
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"
EXT = {"html": "html", "svg": "svg", "dot": "dot", "mermaid": "mmd"}


def _cases() -> list[tuple[str, bool]]:
    out = []
    for path in sorted(GOLDEN.glob("*.hujson")):
        out.append((path.stem, False))
        if path.with_suffix(".nodes.json").exists():
            out.append((path.stem, True))
    return out


def _render(case: str, topology: bool, fmt: str) -> str:
    text = (GOLDEN / f"{case}.hujson").read_text(encoding="utf-8")
    nodes = load_nodes(GOLDEN / f"{case}.nodes.json") if topology else None
    policy = load_policy(text, f"{case}.hujson", users=users_of(nodes) if nodes else ())
    return render_graph(build_graph(policy, nodes), fmt)


@pytest.mark.parametrize(("case", "topology"), _cases())
@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(case: str, topology: bool, fmt: str) -> None:
    got = _render(case, topology, fmt)
    name = f"{case}{'-topology' if topology else ''}.{EXT[fmt]}"
    path = GOLDEN / name
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"{name} missing; run with TAILCFG_UPDATE_GOLDEN=1"
    assert got == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_rendering_is_deterministic(fmt: str) -> None:
    assert _render("grants", True, fmt) == _render("grants", True, fmt)
