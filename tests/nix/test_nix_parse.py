"""Every .nix file in the repository, and every rendered one, parses (one nix-instantiate call)."""

from __future__ import annotations

from pathlib import Path

from nixcases import ROOT, Case, run_nix

SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


def repo_nix_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.nix")):
        if not SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            found.append(path)
    return found


def test_the_nix_files_we_ship_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in repo_nix_files()}
    assert {
        "flake.nix",
        "nix/modules/tailcfg.nix",
        "nix/package.nix",
        "nix/hosts/dao.nix",
        "tests/nix/harness.nix",
        "tests/nix/lib.nix",
        "tests/nix/sops-stub.nix",
        "tests/nix/flake-offline.nix",
    } <= names


def test_every_nix_file_parses(cases: dict[str, Case]) -> None:
    rendered = [f.path for case in cases.values() for f in case.rendering.files]
    files = repo_nix_files() + [p for p in rendered if p.suffix == ".nix"]
    result = run_nix(["--parse", *map(str, files)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") >= len(files)
