"""`tailcfg init [DIR]`: scaffold a tailnet repository, optionally from a live tailnet."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, get_args

import typer

from tailcfg.apiclient import Credentials
from tailcfg.inventory import DEFAULT_URLS, Backend, ControlConfig
from tailcfg.scaffold import (
    Admin,
    InitOptions,
    Snapshot,
    admin_from_identity,
    apply_init,
    describe,
    parse_admin,
    plan_init,
)
from tailcfg.scaffold_remote import fetch_snapshot, record_pulled

EMBEDDED_URL = "http://127.0.0.1:8080"


def register(app: typer.Typer) -> None:
    """Add the top-level `init` command to the root app."""
    app.command("init")(init)


def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Directory of the new repository.")
    ] = Path("."),
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="tailscale|headscale|embedded",
            help="Pull the live policy and devices from this control server.",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", metavar="URL", help="The control server's API URL."),
    ] = None,
    tailnet: Annotated[
        str, typer.Option("--tailnet", metavar="NAME", help="Tailnet name ('-': the key's).")
    ] = "-",
    admin_age: Annotated[
        list[str] | None,
        typer.Option(
            "--admin-age",
            metavar="[NAME=]AGE1...",
            help="An admin's age recipient (repeatable; default: your sops age identity's).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing.")] = (
        False
    ),
) -> int:
    """Write tailcfg.yaml, policy.hujson, .sops.yaml, secrets/, hooks, flake.nix, nix/."""
    backend = _backend(source)
    admins, admin_source = _admins(admin_age or [])
    api_url = _url(backend, url, pulling=source is not None)
    snapshot: Snapshot | None = None
    if source is not None:
        control = ControlConfig(backend, api_url)
        credentials = Credentials.from_environ(os.environ)
        snapshot = fetch_snapshot(control, tailnet=tailnet, credentials=credentials)
    options = InitOptions(
        directory=directory,
        backend=backend,
        url=api_url,
        tailnet=tailnet,
        admins=admins,
        snapshot=snapshot,
        admin_source=admin_source,
    )
    plan = plan_init(options)
    for line in describe(plan.files):
        typer.echo(line)
    for note in plan.notes:
        typer.echo(f"note: {note}", err=True)
    if dry_run:
        verb = "would refuse" if plan.conflicts else f"would write {len(plan.to_write)} files"
        typer.echo(f"dry run: {verb}", err=True)
        return 1 if plan.conflicts else 0
    written = apply_init(plan)
    if snapshot is not None:
        record_pulled(directory, snapshot)
    if written:
        typer.echo(f"initialised {directory}: {len(written)} files written", err=True)
    else:
        typer.echo(f"{directory}: already initialised, nothing to change", err=True)
    return 0


def _backend(source: str | None) -> Backend:
    choices = get_args(Backend)
    if source is None:
        return "tailscale"
    if source not in choices:
        raise typer.BadParameter(f"expected one of {', '.join(choices)}", param_hint="--from")
    return source  # type: ignore[return-value]


def _url(backend: Backend, url: str | None, *, pulling: bool) -> str:
    if url:
        if not url.startswith(("http://", "https://")) or " " in url:
            raise typer.BadParameter("expected http(s)://HOST[:PORT]", param_hint="--url")
        return url.rstrip("/")
    if backend in DEFAULT_URLS:
        return DEFAULT_URLS[backend]
    if backend == "embedded":
        return EMBEDDED_URL
    if pulling:
        raise typer.BadParameter(f"required with --from {backend}", param_hint="--url")
    return ""


def _admins(values: list[str]) -> tuple[tuple[Admin, ...], str]:
    if values:
        return tuple(parse_admin(v, i) for i, v in enumerate(values)), ""
    found = admin_from_identity(os.environ, Path.home())
    if found is None:
        return (), ""
    admin, where = found
    return (admin,), where
