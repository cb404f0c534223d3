"""Locate data files shipped with tailcfg (JSON Schemas), in a wheel or a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def schema_path(name: str) -> Path:
    """Path of ``schemas/<name>``: ``tailcfg/_schemas`` when installed, else the checkout's."""
    for candidate in (_PACKAGE / "_schemas" / name, _PACKAGE.parent / "schemas" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"schema {name!r} is not installed")
