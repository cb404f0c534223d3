"""`tailcfg node up`: run one embedded node until SIGTERM / Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.node.agent import NodeAgent

app = typer.Typer(help="The embedded node: WireGuard in Python.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The embedded node: WireGuard in Python."""


async def _serve(agent: NodeAgent) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with agent:
            typer.echo(
                f"{agent.name}: {', '.join(agent.addresses)} tags={list(agent.tags)} "
                f"endpoint {agent.endpoint}, {len(agent.peers)} peers",
                err=True,
            )
            await agent.run_until(stop)
            if agent.state == "deleted":
                typer.echo(f"{agent.name}: removed from the tailnet ({agent.reason})", err=True)
                return 1
        typer.echo(f"{agent.name}: stopped", err=True)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


@app.command("up")
def up(
    control: Annotated[str, typer.Option("--control", metavar="URL", help="Control plane URL.")],
    authkey_file: Annotated[
        Path,
        typer.Option(
            "--authkey-file", metavar="PATH", help="File holding the auth key (never on argv)."
        ),
    ],
    state: Annotated[
        Path, typer.Option("--state", metavar="DIR", help="State directory (machine/node keys).")
    ],
    hostname: Annotated[
        str | None, typer.Option("--hostname", metavar="NAME", help="Host name to register.")
    ] = None,
    advertise_routes: Annotated[
        list[str] | None,
        typer.Option("--advertise-routes", metavar="CIDR", help="Subnet routes to advertise."),
    ] = None,
) -> int:
    """Register with the control plane and follow its netmap until SIGTERM / Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    agent = NodeAgent(
        control,
        auth_key_file=authkey_file,
        state_dir=state,
        hostname=hostname or socket.gethostname(),
        advertise_routes=advertise_routes or (),
    )
    return asyncio.run(_serve(agent))
