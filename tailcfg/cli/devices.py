"""`tailcfg devices pull`: the live devices as the `--nodes` file of the policy commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.apiclient import Credentials
from tailcfg.atomicfile import atomic_write_text
from tailcfg.cli.keys import InventoryOpt
from tailcfg.devices import devices_json_text, fetch_devices
from tailcfg.errors import TailcfgError
from tailcfg.inventory import load_inventory

app = typer.Typer(help="The tailnet's live devices.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The tailnet's live devices."""


@app.command("pull")
def pull(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here (default: stdout)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="json", help="Output format.")] = "json",
    inventory: InventoryOpt = Path("tailcfg.yaml"),
) -> int:
    """Fetch the devices (addresses, tags, user, routes, created) from the control server."""
    if fmt != "json":
        raise typer.BadParameter("expected json", param_hint="--format")
    inv = load_inventory(inventory)
    devices = fetch_devices(
        inv.control, tailnet=inv.tailnet, credentials=Credentials.from_environ(os.environ)
    )
    text = devices_json_text(devices)
    if output is None:
        typer.echo(text, nl=False)
        return 0
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise TailcfgError(f"{output}: cannot write: {exc.strerror}") from None
    typer.echo(f"wrote {output}: {len(devices)} devices", err=True)
    return 0
