"""`tailcfg control ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="control commands.", no_args_is_help=True)
