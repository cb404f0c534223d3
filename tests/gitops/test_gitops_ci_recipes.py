"""The CI recipes in docs/ use only tailcfg commands, and those commands work.

Every ``tailcfg ...`` line of docs/gitops-github.yml and docs/gitops-gitlab-ci.yml is run,
job by job in pipeline order, in a copy of the homelab example pointed at the embedded
control plane; each must exit 0 (a clean change, then a clean tailnet).
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
from gitops_helpers import Control
from ruamel.yaml import YAML

from tailcfg.cli.main import main

REDIRECTS = (">", ">>", "2>", "|", "&&", "||", ";")
# Lines of the recipes that are not tailcfg: installing it and plumbing in the CI system.
PLUMBING = (
    "pip install",
    "set ",
    "code=",
    "cat ",
    "{ echo",
    "echo ",
    "gh pr comment",
    "|| gh",
    "exit ",
)


def _commands(lines: list[str]) -> list[list[str]]:
    commands = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("tailcfg "):
            assert line.startswith(PLUMBING), f"not a tailcfg command: {line!r}"
            continue
        words = shlex.split(line)
        cut = next((i for i, w in enumerate(words) if w.startswith(REDIRECTS)), len(words))
        commands.append(words[1:cut])
    return commands


def _lines(script: Any) -> list[str]:
    if isinstance(script, str):
        return script.replace("\\\n", " ").splitlines()
    return [line for entry in script for line in _lines(entry)]


def github_jobs(path: Path) -> dict[str, list[list[str]]]:
    workflow = YAML(typ="safe").load(path.read_text())
    return {
        name: _commands(_lines([s["run"] for s in job["steps"] if "run" in s]))
        for name, job in workflow["jobs"].items()
    }


def gitlab_jobs(path: Path) -> dict[str, list[list[str]]]:
    pipeline = YAML(typ="safe").load(path.read_text())
    assert _commands(_lines(pipeline["default"]["before_script"])) == []
    return {
        name: _commands(_lines(job["script"]))
        for name, job in pipeline.items()
        if isinstance(job, dict) and "script" in job
    }


EXPECTED = {
    "gitops-github.yml": {
        "test": [
            ["policy", "fmt", "--check", "policy.hujson"],
            ["policy", "lint", "--format", "github", "policy.hujson"],
            ["policy", "test", "policy.hujson"],
            ["policy", "push", "--dry-run", "--format", "markdown"],
        ],
        "push": [["policy", "push"]],
        "drift": [["policy", "drift", "--format", "markdown"]],
    },
    "gitops-gitlab-ci.yml": {
        "policy:test": [
            ["policy", "fmt", "--check", "policy.hujson"],
            ["policy", "lint", "policy.hujson"],
            ["policy", "test", "policy.hujson"],
            ["policy", "push", "--dry-run", "--format", "markdown"],
        ],
        "policy:push": [["policy", "push"]],
        "policy:drift": [["policy", "drift"]],
    },
}


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_recipe_runs_against_the_embedded_plane(
    recipe: str,
    repo_root: Path,
    tmp_path: Path,
    control: Control,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = repo_root / "docs" / recipe
    jobs = github_jobs(path) if recipe.endswith("github.yml") else gitlab_jobs(path)
    assert jobs == EXPECTED[recipe]

    repo = tmp_path / "repo"
    shutil.copytree(
        repo_root / "examples" / "homelab",
        repo,
        ignore=shutil.ignore_patterns("secrets", "nix", "*.lock"),
    )
    inventory = repo / "tailcfg.yaml"
    text = inventory.read_text().replace("url: http://127.0.0.1:8080", f"url: {control.url}")
    inventory.write_text(text)
    monkeypatch.chdir(repo)
    for name in ("TAILSCALE_OAUTH_CLIENT_ID", "TAILSCALE_OAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TAILSCALE_API_KEY", control.admin_key)
    for job in jobs.values():  # pipeline order: test, push, drift
        for args in job:
            code = main(args)
            out, err = capsys.readouterr()
            assert code == 0, (args, out, err)
    assert control.stored_policy()[0] == (repo / "policy.hujson").read_text()
    assert (repo / ".tailcfg" / "gitops-state.json").is_file()
