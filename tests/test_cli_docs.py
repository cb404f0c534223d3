"""docs/cli.md is generated from the commands; regenerate it when a command changes."""

from __future__ import annotations

import os
from pathlib import Path

from tailcfg.cli.docs import render


def test_cli_reference_is_current(repo_root: Path) -> None:
    path = repo_root / "docs" / "cli.md"
    text = render()
    if os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, (
        "docs/cli.md is stale: run `python -m tailcfg.cli.docs > docs/cli.md`"
    )


def test_reference_names_every_documented_command() -> None:
    text = render()
    for command in (
        "tailcfg policy fmt",
        "tailcfg policy lint",
        "tailcfg policy test",
        "tailcfg policy compile",
        "tailcfg policy explain",
        "tailcfg policy diff",
        "tailcfg policy coverage",
        "tailcfg policy graph",
        "tailcfg policy push",
        "tailcfg policy pull",
        "tailcfg policy drift",
        "tailcfg hosts add",
        "tailcfg keys recipient",
        "tailcfg keys mint",
        "tailcfg keys status",
        "tailcfg keys rotate",
        "tailcfg keys revoke",
        "tailcfg sops check",
        "tailcfg nix render",
        "tailcfg control init",
        "tailcfg control serve",
        "tailcfg node up",
        "tailcfg verify",
    ):
        assert f"`{command}`" in text, command
