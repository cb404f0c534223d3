"""Policy commands: compile (each device's packet filter, SSH policy and peers as JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.policy.compile.engine import compile_file


def compile_cmd(
    policy: Annotated[Path, typer.Argument(metavar="POLICY", help="The policy file.")],
    nodes: Annotated[
        Path,
        typer.Option("--nodes", metavar="NODES", help="Topology: JSON/YAML list of devices."),
    ],
    node: Annotated[
        str | None, typer.Option("--node", metavar="NAME", help="Only this device.")
    ] = None,
) -> int:
    """Compile POLICY for the devices in NODES: packet filters, SSH policies, peers (JSON)."""
    result = compile_file(policy, nodes, node=node)
    typer.echo(json.dumps(result, indent=2))
    for item in result.get("skipped", ()):
        typer.echo(f"{item['at']}: warning[skipped]: {item['rule']}: {item['reason']}", err=True)
    return 0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("compile")(compile_cmd)
