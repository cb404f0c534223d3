"""Helpers for the Nix tests: the real nix-instantiate, and the example inventories rendered.

Cases: ``homelab`` (examples/homelab, embedded control plane) and the inventories under
tests/nix/cases/ (headscale with a secrets dir that needs quoting, tailscale's hosted
control plane). Each is copied to a temporary repository and rendered there once per
session, with the default layout (``nix/`` beside ``tailcfg.yaml``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tailcfg import nix
from tailcfg.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HARNESS = HERE / "harness.nix"
GOLDEN = ROOT / "tests" / "golden" / "nix"
CASES = {
    "homelab": ROOT / "examples" / "homelab",
    "headscale": HERE / "cases" / "headscale",
    "tailscale": HERE / "cases" / "tailscale",
}
# No build users exist here (and none are needed to parse or evaluate).
NIX_OPTIONS = ("--option", "build-users-group", "")


@dataclass(frozen=True)
class Case:
    name: str
    root: Path  # the temporary repository holding tailcfg.yaml
    rendering: nix.Rendering

    @property
    def out(self) -> Path:
        return self.rendering.out_dir

    def rendered(self) -> dict[str, str]:
        """Rendered files by path relative to ``nix/``."""
        return {f.path.relative_to(self.out).as_posix(): f.text for f in self.rendering.files}


def nix_instantiate_path() -> str:
    path = shutil.which("nix-instantiate")
    if path is None:
        pytest.skip("nix-instantiate is not installed (Debian package nix-bin)")
    return path


def run_nix(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """One nix-instantiate call (about 30 ms); the caller checks returncode."""
    return subprocess.run(
        [nix_instantiate_path(), *NIX_OPTIONS, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def evaluate_harness(case: Case, settings: dict[str, Any] | None = None) -> Any:
    """tests/nix/harness.nix on a rendered case: {host: {"module": ..., "file": ...}}."""
    args = ["--eval", "--strict", "--json", str(HARNESS)]
    args += ["--argstr", "root", str(case.root), "--argstr", "out", str(case.out)]
    if settings is not None:
        args += ["--argstr", "settings", json.dumps(settings)]
    result = run_nix(args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _render_case(name: str, base: Path) -> Case:
    root = base / name
    shutil.copytree(CASES[name], root, ignore=shutil.ignore_patterns("nix", "secrets"))
    rendering = nix.render(load_inventory(root / "tailcfg.yaml"))
    nix.write(rendering)
    return Case(name, root, rendering)


def render_cases(base: Path) -> dict[str, Case]:
    return {name: _render_case(name, base) for name in CASES}
