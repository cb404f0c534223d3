"""The CI documents stay true: the example workflow runs only tailcfg commands that
exist, the pre-commit hooks name real commands, docs/diff.md shows the real output."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tailcfg.cli.main import main

ROOT = Path(__file__).resolve().parent.parent.parent


def _commands(run: str) -> list[list[str]]:
    out = []
    for line in run.strip().splitlines():
        words = shlex.split(line.split(">", 1)[0])
        out.append(words)
    return out


def _help(words: list[str]) -> int:
    subcommand = [w for w in words[1:] if not w.startswith("-") and "." not in w][:2]
    return main([*subcommand, "--help"])


def test_workflow_runs_only_tailcfg(capsys: pytest.CaptureFixture[str]) -> None:
    workflow = YAML(typ="safe").load((ROOT / "docs" / "github-actions.yml").read_text())
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    commands = [c for run in runs for c in _commands(run)]
    assert [" ".join(c[:3]) for c in commands] == [
        "pip install tailcfg",
        "tailcfg policy fmt",
        "tailcfg policy lint",
        "tailcfg policy test",
        "tailcfg policy coverage",
        "tailcfg policy diff",
        "tailcfg policy diff",
        "pip install tailcfg",
        "tailcfg sops check",
        "tailcfg nix render",
    ]
    assert all(c[0] == "tailcfg" for c in commands if c[:2] != ["pip", "install"])
    for words in commands:
        if words[0] == "tailcfg":
            assert _help(words) == 0, words
    capsys.readouterr()


def test_hooks_name_real_commands(capsys: pytest.CaptureFixture[str]) -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == [
        "tailcfg-policy-fmt",
        "tailcfg-policy-lint",
        "tailcfg-policy-test",
        "tailcfg-sops-check",
        "tailcfg-nix-render",
    ]
    for hook in hooks:
        words = shlex.split(hook["entry"])
        assert words[0] == "tailcfg" and hook["language"] == "python"
        assert main([*words[1:3], "--help"]) == 0
    capsys.readouterr()


def test_diff_doc_shows_the_homelab_output() -> None:
    doc = (ROOT / "docs" / "diff.md").read_text(encoding="utf-8")
    golden = (ROOT / "tests" / "golden" / "diff" / "homelab-topology.txt").read_text()
    assert golden in doc
