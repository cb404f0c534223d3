"""Policy commands: fmt (tailscale/hujson's canonical layout, comments kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tailcfg.hujson.files import FormatResult, format_files


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("fmt")(fmt)


def fmt(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="HuJSON files.")],
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 naming the files that would change."),
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Write nothing; print a unified diff of the changes.")
    ] = False,
) -> int:
    """Format HuJSON files the way tailscale/hujson does (gitops-pusher's ETag input)."""
    results = format_files(files, write=not (check or diff))
    for result in results:
        _render(result, check=check, diff=diff)
    failed = any(r.error is not None for r in results)
    would_change = check and any(r.changed for r in results)
    return 1 if failed or would_change else 0


def _render(result: FormatResult, *, check: bool, diff: bool) -> None:
    if result.error is not None:
        typer.echo(str(result.error), err=True)
        return
    if diff and result.changed:
        typer.echo(result.diff(), nl=False)
    if check and result.changed:
        typer.echo(f"would reformat {result.path}", err=True)
    elif result.written:
        typer.echo(f"reformatted {result.path}")
