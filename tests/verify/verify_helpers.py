"""Helpers of the verify tests: a private copy of examples/homelab to break on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

HOMELAB = Path(__file__).resolve().parents[2] / "examples" / "homelab"


def copy_homelab(base: Path, name: str) -> Path:
    target = base / name
    shutil.copytree(HOMELAB, target, ignore=shutil.ignore_patterns("secrets"))
    return target
