"""`tailcfg sops ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="sops commands.", no_args_is_help=True)
