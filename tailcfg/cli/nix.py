"""`tailcfg nix ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="nix commands.", no_args_is_help=True)
