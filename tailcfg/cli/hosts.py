"""`tailcfg hosts ...`: declare hosts in tailcfg.yaml and their sops creation rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tailcfg.cli.keys import InventoryOpt
from tailcfg.hosts import add_host

app = typer.Typer(help="Declare hosts (tailcfg.yaml + .sops.yaml).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Declare hosts (tailcfg.yaml + .sops.yaml)."""


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Host name (lower-case letters, digits, '-').")],
    ssh_host_key: Annotated[
        str,
        typer.Option(
            "--ssh-host-key", metavar="KEY", help="ssh-ed25519 public key, or a .pub file."
        ),
    ],
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="tag:NAME (repeatable).")
    ] = None,
    inventory: InventoryOpt = Path("tailcfg.yaml"),
) -> int:
    """Add NAME to tailcfg.yaml and a secrets/NAME/ creation rule to .sops.yaml (idempotent)."""
    result = add_host(inventory, name, ssh_host_key=ssh_host_key, tags=tuple(tag or ()))
    inv = result.inventory
    what = "added/updated" if result.inventory_changed else "unchanged"
    typer.echo(f"{inv.path}: host {name} {what}")
    what = "rule added/updated" if result.sops_config_changed else "unchanged"
    typer.echo(f"{inv.sops_config.name}: {what} (recipient {result.recipient})")
    return 0
