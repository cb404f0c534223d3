"""policy diff: golden outputs, whole expected values, REV:path, the CLI.

Golden cases: ``tests/golden/diff/<case>.old.hujson`` and ``<case>.new.hujson`` (and
``<case>.nodes.json`` for a topology) are diffed as ``<case>.old.hujson`` ->
``<case>.new.hujson``; the text, markdown and json renderings must equal
``<case>.txt``, ``<case>.md`` and ``<case>.json`` (``TAILCFG_UPDATE_GOLDEN=1``
rewrites them). ``homelab`` and ``homelab-topology`` diff the example's two versions.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tailcfg.cli.main import main
from tailcfg.errors import TailcfgError
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.diff.compare import (
    AccessChange,
    CapChange,
    DeclChange,
    PolicyDiff,
    PortSpec,
    SshChange,
    diff_policies,
    diff_sources,
)
from tailcfg.policy.diff.render import RENDERERS
from tailcfg.policy.model.nodes import load_nodes

ROOT = Path(__file__).resolve().parent.parent.parent
GOLDEN = ROOT / "tests" / "golden" / "diff"
HOMELAB = ROOT / "examples" / "homelab"
CASES = sorted(p.name.removesuffix(".old.hujson") for p in GOLDEN.glob("*.old.hujson"))
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"
SUFFIX = {"text": "txt", "markdown": "md", "json": "json"}


def _load(path: Path, label: str) -> object:
    return load_policy(path.read_text(encoding="utf-8"), label)


def _case_diff(case: str) -> PolicyDiff:
    if case.startswith("homelab"):
        old_path, new_path = HOMELAB / "policy.hujson", HOMELAB / "policy.v2.hujson"
        nodes_path = HOMELAB / "nodes.json" if case == "homelab-topology" else None
    else:
        old_path, new_path = GOLDEN / f"{case}.old.hujson", GOLDEN / f"{case}.new.hujson"
        candidate = GOLDEN / f"{case}.nodes.json"
        nodes_path = candidate if candidate.exists() else None
    old = load_policy(old_path.read_text(encoding="utf-8"), old_path.name)
    new = load_policy(new_path.read_text(encoding="utf-8"), new_path.name)
    nodes = load_nodes(nodes_path) if nodes_path is not None else None
    return diff_policies(old, new, nodes=nodes)


def _check_golden(name: str, got: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", sorted(SUFFIX))
@pytest.mark.parametrize("case", [*CASES, "homelab", "homelab-topology"])
def test_golden(case: str, fmt: str) -> None:
    _check_golden(f"{case}.{SUFFIX[fmt]}", RENDERERS[fmt](_case_diff(case)))


def test_golden_json_is_the_documented_shape() -> None:
    for case in [*CASES, "homelab"]:
        data = json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8"))
        assert list(data) == [
            "version",
            "old",
            "new",
            "mode",
            "changed",
            "access_changed",
            "access",
            "ssh",
            "capabilities",
            "declarations",
            "rules",
        ]
        assert data["version"] == 1
        assert list(data["access"]) == ["gained", "lost"]
        assert list(data["ssh"]) == ["gained", "lost", "changed"]
        assert list(data["capabilities"]) == ["gained", "lost"]
        assert len(data["rules"]["access"]["gained"]) == len(data["access"]["gained"])
        assert len(data["rules"]["ssh"]["lost"]) == len(data["ssh"]["lost"])


TCP = (6,)
ANY = (1, 6, 17, 58)


def _plain(changes: tuple[Any, ...]) -> tuple[Any, ...]:
    """The rows without the rules behind them (checked apart by :func:`_why`)."""
    return tuple(dataclasses.replace(c, rules=()) for c in changes)


def _why(changes: tuple[Any, ...]) -> list[list[str]]:
    return [[r.render() for r in c.rules] for c in changes]


def test_homelab_topology_whole_value() -> None:
    d = _case_diff("homelab-topology")
    assert d.mode == "topology"
    assert _plain(d.gained) == (
        AccessChange(("freya@example.com",), ("dao",), (PortSpec(TCP, ((22, 22), (443, 443))),)),
        AccessChange(("freya@example.com",), ("monitor",), (PortSpec(ANY, ((3000, 3000),)),)),
        AccessChange(("tag:ci",), ("dao",), (PortSpec(TCP, ((22, 22),)),)),
    )
    assert _why(d.gained) == [
        ["policy.v2.hujson:33 (grants[0])"],
        ["policy.v2.hujson:54 (acls[1])"],
        ["policy.v2.hujson:45 (grants[2])"],
    ]
    assert _plain(d.lost) == (
        AccessChange(("tag:monitoring",), ("exit",), (PortSpec(TCP, ((9100, 9100),)),)),
    )
    assert _why(d.lost) == [["policy.hujson:36 (grants[1])"]]
    assert _plain(d.ssh_gained) == (
        SshChange(("freya@example.com",), ("dao",), ("root", "autogroup:nonroot"), "accept"),
        SshChange(("tag:ci",), ("dao",), ("deploy",), "accept"),
    )
    assert _why(d.ssh_gained) == [
        ["policy.v2.hujson:68 (ssh[0])"],
        ["policy.v2.hujson:87 (ssh[3])"],
    ]
    assert d.ssh_lost == () and d.ssh_changed == ()
    assert d.declarations == (
        DeclChange("groups", "group:admins", "changed", ("freya@example.com",), ()),
    )
    assert d.access_changed and d.changed


def test_routes_and_node_attrs_whole_value() -> None:
    d = _case_diff("routes")
    assert d.gained == ()
    assert _why(d.lost) == [["routes.old.hujson:7 (acls[0])"], ["routes.old.hujson:8 (acls[1])"]]
    assert _plain(d.lost) == (
        AccessChange(
            ("odin@example.com",),
            ("nas (192.168.1.10) via gateway",),
            (PortSpec(ANY, ((445, 445),)),),
        ),
        AccessChange(("tag:web",), ("* via gateway",), (PortSpec(ANY, ((5432, 5432),)),)),
    )
    assert d.declarations == (
        DeclChange("autoApprovers", "routes 10.0.0.0/8", "added", ("tag:router",), ()),
        DeclChange("autoApprovers", "routes 192.168.1.0/24", "removed", (), ("tag:router",)),
        DeclChange("nodeAttrs", "tag:web", "changed", ("drive:share",), ()),
    )


def test_ssh_gained_lost_changed_whole_value() -> None:
    d = _case_diff("ssh")
    assert (d.gained, d.lost) == ((), ())
    assert _plain(d.ssh_gained) == (
        SshChange(("cid@example.com",), ("tag:dev",), ("deploy",), "accept"),
    )
    assert _plain(d.ssh_lost) == (SshChange(("group:ops",), ("tag:prod",), ("root",), "accept"),)
    assert _plain(d.ssh_changed) == (
        SshChange(("group:ops",), ("tag:prod",), ("autogroup:nonroot",), "check", "accept"),
    )
    assert _why(d.ssh_gained) == [["ssh.new.hujson:7 (ssh[1])"]]
    assert _why(d.ssh_lost) == [["ssh.old.hujson:7 (ssh[0])"]]
    assert _why(d.ssh_changed) == [["ssh.new.hujson:6 (ssh[0])"]]


def test_capabilities_whole_value() -> None:
    d = _case_diff("caps")
    assert (d.gained, d.lost, d.ssh_gained, d.declarations) == ((), (), (), ())
    drive = 'tailscale.com/cap/drive [{"access":"ro","shares":["docs"]}]'
    assert d.caps_gained == (
        CapChange(("ben@example.com",), ("tag:nas",), (drive,)),
        CapChange(("group:eng",), ("tag:app2",), ("example.com/cap/admin",)),
        CapChange(("tag:nas",), ("ben@example.com",), ("tailscale.com/cap/drive-sharer",)),
    )
    assert d.caps_lost == (CapChange(("group:eng",), ("tag:app",), ("example.com/cap/admin",)),)
    assert d.access_changed


def test_reformat_reorder_and_comments_are_no_change() -> None:
    d = _case_diff("reformat")
    assert not d.changed and not d.access_changed
    assert d.facts == ({}, {})


@pytest.mark.parametrize("nodes", [None, HOMELAB / "nodes.json"])
def test_same_policy_is_empty(nodes: Path | None) -> None:
    p = _load(HOMELAB / "policy.hujson", "policy.hujson")
    d = diff_policies(p, p, nodes=load_nodes(nodes) if nodes else None)  # type: ignore[arg-type]
    assert (d.gained, d.lost, d.ssh_gained, d.ssh_lost, d.declarations) == ((), (), (), (), ())


# ---- REV:path -------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _git(tmp_path, "init", "-q")
    (tmp_path / "sub").mkdir()
    shutil.copy(HOMELAB / "policy.hujson", tmp_path / "sub" / "policy.hujson")
    _git(tmp_path, "add", "sub/policy.hujson")
    _git(tmp_path, "commit", "-q", "-m", "v1")
    shutil.copy(HOMELAB / "policy.v2.hujson", tmp_path / "sub" / "policy.hujson")
    return tmp_path


@needs_git
def test_rev_path_against_working_file(repo: Path) -> None:
    d = diff_sources("HEAD:policy.hujson", "policy.hujson", cwd=repo / "sub")
    assert (d.old, d.new) == ("HEAD:policy.hujson", "policy.hujson")
    assert _plain(d.gained) == _plain(_case_diff("homelab").gained)
    assert _why(d.gained)[0] == ["policy.hujson:54 (acls[1])"]
    assert _why(d.lost) == [["HEAD:policy.hujson:36 (grants[1])"]]


@needs_git
def test_rev_path_errors_are_typed(repo: Path) -> None:
    with pytest.raises(TailcfgError, match=r"^HEAD:nope\.hujson: fatal: "):
        diff_sources("HEAD:nope.hujson", "policy.hujson", cwd=repo / "sub")
    with pytest.raises(TailcfgError, match=r"^missing\.hujson: cannot read policy"):
        diff_sources("missing.hujson", "policy.hujson", cwd=repo / "sub")


@needs_git
def test_cli_git_option(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(repo / "sub")
    assert main(["policy", "diff", "--git", "HEAD", "policy.hujson", "--exit-code"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("policy diff HEAD:policy.hujson -> policy.hujson (symbolic)\n")
    assert "  + tag:ci -> tag:server as deploy (accept)  by policy.hujson:87 (ssh[3])\n" in out
    _git(repo, "commit", "-q", "-am", "v2")
    assert main(["policy", "diff", "--git", "HEAD", "policy.hujson", "--exit-code"]) == 0
    assert capsys.readouterr().out == (
        "policy diff HEAD:policy.hujson -> policy.hujson (symbolic)\nno access change\n0 changes\n"
    )


# ---- CLI --------------------------------------------------------------------------


def test_cli_formats_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(HOMELAB)
    args = ["policy", "diff", "policy.hujson", "policy.v2.hujson"]
    assert main([*args, "--format", "markdown"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "homelab.md").read_text(encoding="utf-8")
    assert main([*args, "--nodes", "nodes.json", "--exit-code"]) == 1
    assert capsys.readouterr().out == (GOLDEN / "homelab-topology.txt").read_text(encoding="utf-8")
    assert main([*args, "--format", "json"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "homelab.json").read_text(encoding="utf-8")
    assert main([*args, "--format", "github"]) == 0
    assert capsys.readouterr().out.splitlines()[2:4] == [
        "::notice file=policy.v2.hujson,line=45,col=3,endLine=45,endColumn=74,"
        "title=tailcfg access gained::tag:ci -> tag:server: tcp:22",
        "::notice title=tailcfg access lost::tag:monitoring -> tag:exit: tcp:9100 "
        "(was policy.hujson:36 (grants[1]))",
    ]


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "diff", "a.hujson"]) == 2
    assert "missing NEW" in capsys.readouterr().err
    assert main(["policy", "diff", "--git", "HEAD", "a.hujson", "b.hujson"]) == 2
    assert "with --git give one FILE" in capsys.readouterr().err


def test_cli_rejected_policy_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.hujson"
    bad.write_text('{"acls": [{"action": "accept", "src": ["tag:nope"], "dst": ["*:*"]}]}\n')
    assert main(["policy", "diff", str(HOMELAB / "policy.hujson"), str(bad)]) == 1
    assert 'tag not found: "tag:nope"' in capsys.readouterr().err


def test_change_on_unnamed_identities_is_reported() -> None:
    # Neither side names a user or a tag; the stand-ins for "every other user" and "every
    # other tagged device" still hold devices the rules reach.
    d = _case_diff("anonymous")
    assert d.access_changed and not d.gained
    lost = {(c.src, c.dst, c.ports_text) for c in d.lost}
    assert lost == {
        (
            ("other-user@stand-in.invalid",),
            ("other-user@stand-in.invalid", "tag:other-tag"),
            "0-21,23-65535",
        ),
        (
            ("* (addresses of no device)", "tag:other-tag"),
            ("other-user@stand-in.invalid", "tag:other-tag"),
            "*",
        ),
    }
