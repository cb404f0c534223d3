"""`tailcfg control ...` commands: the embedded control plane."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.control.bootstrap import init_state
from tailcfg.control.server import check_serve
from tailcfg.control.server import serve as serve_control
from tailcfg.control.service import Settings

app = typer.Typer(
    help="The embedded control plane: registration, netmaps, Tailscale v2 / Headscale v1 APIs.",
    no_args_is_help=True,
)

StateOpt = Annotated[
    Path, typer.Option("--state", metavar="DIR", help="State directory (keys, control.db).")
]


@app.callback()
def _group() -> None:
    """The embedded control plane: registration, netmaps, Tailscale v2 / Headscale v1 APIs."""


@app.command("init")
def init(
    state: StateOpt = Path("control-state"),
    admin_login: Annotated[
        str, typer.Option("--admin-login", metavar="LOGIN", help="Login of the admin user.")
    ] = "admin@example.com",
    domain: Annotated[
        str, typer.Option("--domain", metavar="DOMAIN", help="MagicDNS domain of the tailnet.")
    ] = "tailnet.internal",
) -> int:
    """Create the control key pair and an admin API key (written once to DIR/admin.key)."""
    result = init_state(state, admin_login=admin_login, domain=domain)
    typer.echo(f"initialised {result.state_dir}")
    typer.echo(f"control key: {result.control_public_key}")
    typer.echo(f"admin API key for {result.admin_login}: {result.admin_key_path} (mode 0600)")
    return 0


@app.command("serve")
def serve(
    listen: Annotated[
        str, typer.Option("--listen", metavar="HOST:PORT", help="Address to listen on.")
    ] = "127.0.0.1:8080",
    state: StateOpt = Path("control-state"),
    policy: Annotated[
        Path | None,
        typer.Option("--policy", metavar="FILE", help="Policy file to load at start."),
    ] = None,
    ephemeral_timeout: Annotated[
        float,
        typer.Option(
            "--ephemeral-timeout",
            metavar="SECONDS",
            help="Remove ephemeral devices this long after they disconnect.",
        ),
    ] = 120.0,
    keepalive: Annotated[
        float,
        typer.Option("--keepalive", metavar="SECONDS", help="Keep-alive interval of map streams."),
    ] = 30.0,
) -> int:
    """Serve the control plane until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings(ephemeral_timeout=ephemeral_timeout, keepalive=keepalive)
    check_serve(state, listen=listen, policy_path=policy)
    typer.echo(f"control plane on http://{listen} (state {state})", err=True)
    return serve_control(state, listen=listen, policy_path=policy, settings=settings)
