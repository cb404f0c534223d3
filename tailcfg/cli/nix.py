"""`tailcfg nix ...` commands: render the NixOS side of the inventory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tailcfg import nix
from tailcfg.inventory import load_inventory

app = typer.Typer(
    help="Render the NixOS wiring (sops-nix + services.tailscale) from tailcfg.yaml.",
    no_args_is_help=True,
)


@app.callback()
def _group() -> None:
    """Render the NixOS wiring (sops-nix + services.tailscale) from tailcfg.yaml."""


@app.command("render")
def render(
    host: Annotated[
        list[str] | None,
        typer.Option("--host", metavar="NAME", help="Render only this host's file (repeatable)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 naming the files that are stale."),
    ] = False,
    inventory: Annotated[
        Path, typer.Option("--inventory", "-i", metavar="FILE", help="The inventory file.")
    ] = Path("tailcfg.yaml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Output directory (default: nix/ beside FILE)."),
    ] = None,
) -> int:
    """Write nix/inventory.json and nix/hosts/<host>.nix (atomically; deterministic)."""
    rendering = nix.render(load_inventory(inventory), out_dir=out, hosts=host or ())
    if check:
        stale = nix.stale(rendering)
        for path in stale:
            typer.echo(f"stale: {_shown(path)} (run `tailcfg nix render`)", err=True)
        return 1 if stale else 0
    touched = nix.write(rendering)
    for path in touched:
        verb = "removed" if path in rendering.orphans else "wrote"
        typer.echo(f"{verb} {_shown(path)}")
    if not touched:
        typer.echo(f"{_shown(rendering.out_dir)}: up to date")
    for name in rendering.unsealed:
        hint = f"tailcfg keys mint --host {name}"
        typer.echo(f"note: no sealed key for {name} yet ({hint})", err=True)
    return 0


def _shown(path: Path) -> str:
    """The path relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(path)
