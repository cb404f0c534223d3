"""The access graph: rule-level edges, the device matrix, and the ``policy graph`` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tailcfg.cli.main import main
from tailcfg.policy.compile.engine import load_policy, users_of
from tailcfg.policy.graph.build import AccessGraph, Cell, Origin, build_graph, render_graph
from tailcfg.policy.model.nodes import Node, load_nodes

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "graph"


def _graph(case: str, *, topology: bool) -> AccessGraph:
    nodes = load_nodes(GOLDEN / f"{case}.nodes.json") if topology else None
    text = (GOLDEN / f"{case}.hujson").read_text(encoding="utf-8")
    policy = load_policy(text, "policy.hujson", users=users_of(nodes) if nodes else ())
    return build_graph(policy, nodes)


def _o(section: str, index: int, line: int) -> Origin:
    return Origin(section, index, "policy.hujson", line)


def test_homelab_edges() -> None:
    g = _graph("homelab", topology=False)
    got = [(e.src, e.dst, e.kind, e.labels, e.origins) for e in g.edges]
    assert got == [
        ("autogroup:member", "autogroup:internet", "ip", ("*",), (_o("acls", 2, 55),)),
        (
            "autogroup:member",
            "autogroup:self",
            "ssh",
            ("accept autogroup:nonroot",),
            (_o("ssh", 2, 75),),
        ),
        ("group:admins", "tag:monitoring", "ip", ("3000",), (_o("acls", 1, 49),)),
        ("group:admins", "tag:server", "ip", ("tcp:22,443",), (_o("grants", 0, 30),)),
        (
            "group:admins",
            "tag:server",
            "ssh",
            ("accept root", "accept autogroup:nonroot"),
            (_o("ssh", 0, 63),),
        ),
        ("group:ops", "nas", "ip", ("445",), (_o("acls", 0, 47),)),
        (
            "group:ops",
            "tag:monitoring",
            "ssh",
            ("check autogroup:nonroot",),
            (_o("ssh", 1, 69),),
        ),
        ("tag:ci", "tag:server", "ip", ("tcp:443",), (_o("grants", 2, 42),)),
        ("tag:monitoring", "tag:exit", "ip", ("tcp:9100",), (_o("grants", 1, 36),)),
        ("tag:monitoring", "tag:router", "ip", ("tcp:9100",), (_o("grants", 1, 36),)),
        ("tag:monitoring", "tag:server", "ip", ("tcp:9100",), (_o("grants", 1, 36),)),
    ]
    assert [(v.name, v.kind) for v in g.sources] == [
        ("autogroup:member", "autogroup"),
        ("group:admins", "group"),
        ("group:ops", "group"),
        ("tag:ci", "tag"),
        ("tag:monitoring", "tag"),
    ]
    assert [v.members for v in g.sources][2] == ("odin@example.com", "freya@example.com")


def test_homelab_matrix_on_devices() -> None:
    m = _graph("homelab", topology=True).matrix
    names = ("laptop", "dao", "gateway", "exit", "ci-runner", "monitor")
    assert m.rows == names
    assert m.cols == names
    assert m.cells == {
        ("laptop", "laptop"): Cell((), ("nonroot",), (_o("ssh", 2, 75),)),
        ("laptop", "dao"): Cell(
            ("tcp:22,443",), ("nonroot", "root"), (_o("grants", 0, 30), _o("ssh", 0, 63))
        ),
        ("monitor", "dao"): Cell(("tcp:9100",), (), (_o("grants", 1, 36),)),
        ("ci-runner", "dao"): Cell(("tcp:443",), (), (_o("grants", 2, 42),)),
        ("monitor", "gateway"): Cell(("tcp:9100",), (), (_o("grants", 1, 36),)),
        ("laptop", "gateway"): Cell(("445 → 192.168.1.10",), (), (_o("acls", 0, 47),)),
        ("monitor", "exit"): Cell(("tcp:9100",), (), (_o("grants", 1, 36),)),
        ("laptop", "exit"): Cell(("* → internet",), (), (_o("acls", 2, 55),)),
        ("laptop", "monitor"): Cell(
            ("3000",), ("nonroot (check)",), (_o("acls", 1, 49), _o("ssh", 1, 69))
        ),
    }


def test_symbolic_matrix_uses_identities() -> None:
    m = _graph("homelab", topology=False).matrix
    assert m.rows == (
        "freya@example.com",
        "odin@example.com",
        "tag:ci",
        "tag:exit",
        "tag:monitoring",
        "tag:router",
        "tag:server",
    )
    assert m.cols[-2:] == ("autogroup:internet (0.0.0.0/0)", "nas (192.168.1.10)")
    assert m.cell("freya@example.com", "nas (192.168.1.10)") == Cell(
        ("445",), (), (_o("acls", 0, 47),)
    )


def test_via_grant_and_app_edges() -> None:
    g = _graph("grants", topology=True)
    assert g.matrix.cell("bob-desktop", "router") == Cell(
        ("* → 10.20.0.0/16",), (), (_o("grants", 2, 19),)
    )
    app = [(e.src, e.dst, e.labels) for e in g.edges if e.kind == "app"]
    assert app == [("tag:web", "tag:db", ("app:example.com/cap/db",))]


def test_allow_all_policy() -> None:
    policy = load_policy("{}", "empty.hujson")
    nodes = [
        Node("a", "100.64.0.1", "fd7a:115c:a1e0::1", user="a@example.com"),
        Node("b", "100.64.0.2", "fd7a:115c:a1e0::2", tags=("tag:x",)),
    ]
    g = build_graph(policy, nodes)
    assert g.edges == ()
    assert g.notes == ("the policy has no acls or grants: every device may reach every other",)
    allow = Origin("default allow-all (no acls or grants)", -1, "empty.hujson", 1)
    assert g.matrix.cell("a", "b") == Cell(("*",), (), (allow,))
    assert allow.render() == "empty.hujson:1 default allow-all (no acls or grants)"


def test_html_is_self_contained_and_accessible() -> None:
    html = render_graph(_graph("homelab", topology=True), "html")
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    assert "<link" not in html and " src=" not in html and "@import" not in html
    assert '<th scope="col">dao</th>' in html and '<th scope="row">laptop</th>' in html
    assert "policy.hujson:30 grants[0]" in html
    assert html.count('tabindex="0"') >= 11 + 12  # edges + vertices (+ matrix cells)


def test_cli_writes_file_atomically(tmp_path: Path, repo_root: Path) -> None:
    out = tmp_path / "graph.svg"
    policy = GOLDEN / "homelab.hujson"
    nodes = GOLDEN / "homelab.nodes.json"
    args = ["policy", "graph", str(policy), "--nodes", str(nodes), "--format", "svg", "-o"]
    assert main([*args, str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert [p.name for p in tmp_path.iterdir()] == ["graph.svg"]


def test_cli_stdout_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "graph", str(GOLDEN / "grants.hujson"), "--format", "mermaid"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart LR\n")
    assert '  s2 -->|"* via tag:router"| d2\n' in out


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "graph", str(tmp_path / "missing.hujson")]) == 1
    assert "cannot read policy" in capsys.readouterr().err
    bad = tmp_path / "bad.hujson"
    bad.write_text('{"acls": [{"action": "accept", "src": ["tag:nope"], "dst": ["*:*"]}]}')
    assert main(["policy", "graph", str(bad)]) == 1
    assert main(["policy", "graph", str(bad), "--format", "png"]) == 2
