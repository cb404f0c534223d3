"""`tailcfg verify`: the end-to-end proof."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the top-level `verify` command to the root app (once it exists)."""
