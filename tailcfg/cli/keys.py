"""`tailcfg keys ...`: recipient, mint, status, rotate, revoke.

Settings are built here, at the edge: credentials from the environment
(TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID + TAILSCALE_OAUTH_CLIENT_SECRET;
HEADSCALE_API_KEY), sops' environment (PATH, HOME, SOPS_AGE_KEY[_FILE]) and the inventory
(``--inventory/-i``, default ``./tailcfg.yaml``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tailcfg.age import AgeKeyError, ssh_private_key_to_age, ssh_pubkey_to_age
from tailcfg.errors import TailcfgError
from tailcfg.inventory import Inventory, format_duration, load_inventory, parse_duration
from tailcfg.keys.backends import HeadscaleV1, TailscaleV2, make_backend
from tailcfg.keys.credentials import Credentials
from tailcfg.keys.mint import mint_host
from tailcfg.keys.rotate import due_hosts, revoke_host, rotate_all
from tailcfg.keys.status import HostStatus, State, key_status
from tailcfg.sops import SOPS_ENV_KEYS, Sops, find_sops
from tailcfg.textfile import read_text

app = typer.Typer(help="Mint, seal, report, rotate and revoke auth keys.", no_args_is_help=True)

InventoryOpt = Annotated[
    Path, typer.Option("--inventory", "-i", metavar="FILE", help="The inventory file.")
]
FormatOpt = Annotated[str, typer.Option("--format", help="text or json.")]
BAD_STATES = {State.EXPIRED, State.MISSING, State.NOT_DECRYPTABLE, State.INVALID}


@app.callback()
def _group() -> None:
    """Mint, seal, report, rotate and revoke auth keys."""


# --- settings built at the edge ------------------------------------------------------------


def make_sops(inventory: Inventory) -> Sops:
    env = {k: os.environ[k] for k in SOPS_ENV_KEYS if k in os.environ}
    binary = find_sops(search_path=os.environ.get("PATH"))
    return Sops(binary, inventory.root_dir, inventory.sops_config, env)


def credentials() -> Credentials:
    return Credentials.from_environ(os.environ)


def open_backend(inventory: Inventory) -> TailscaleV2 | HeadscaleV1:
    return make_backend(inventory.control, tailnet=inventory.tailnet, credentials=credentials())


def oauth_tags(inventory: Inventory) -> tuple[str, ...] | None:
    uses_oauth = credentials().uses_oauth and inventory.control.backend != "headscale"
    return inventory.control.oauth_tags if uses_oauth else None


def read_ssh_pubkey(value: str) -> str:
    """A key string, or the text of a ``.pub`` file."""
    if value.strip().startswith("ssh-"):
        return value
    return read_text(value, "SSH public key")


def host_identities(directory: Path | None, names: list[str]) -> dict[str, str]:
    """age identities from host SSH private keys: ``DIR/ssh_host_ed25519_key.<host>``."""
    if directory is None:
        return {}
    found = {}
    for name in names:
        for candidate in (
            directory / f"ssh_host_ed25519_key.{name}",
            directory / name / "ssh_host_ed25519_key",
        ):
            if candidate.is_file():
                text = read_text(candidate, "SSH host private key")
                try:
                    found[name] = ssh_private_key_to_age(text)
                except TailcfgError as exc:
                    raise TailcfgError(f"{candidate}: {exc}") from None
                break
    return found


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _left(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return f"expired {format_duration(-seconds) if seconds else '0s'} ago"
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


def _emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


# --- commands -------------------------------------------------------------------------------


@app.command("recipient")
def recipient(
    ssh_pubkey: Annotated[str, typer.Argument(help="An ssh-ed25519 key, or a .pub file.")],
) -> int:
    """Print the age recipient (age1...) of an SSH ed25519 public key, like ssh-to-age."""
    try:
        recipient_text = ssh_pubkey_to_age(read_ssh_pubkey(ssh_pubkey))
    except AgeKeyError as exc:
        if ssh_pubkey.strip().startswith("ssh-"):
            raise
        raise TailcfgError(f"{ssh_pubkey}: {exc}") from None
    typer.echo(recipient_text)
    return 0


@app.command("mint")
def mint(
    host: Annotated[str, typer.Option("--host", metavar="NAME", help="The host to mint for.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check tags and .sops.yaml; contact nothing.")
    ] = False,
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    fmt: FormatOpt = "text",
) -> int:
    """Mint an auth key for HOST and seal it into secrets/HOST/tailscale.yaml."""
    inv = load_inventory(inventory)
    tags = oauth_tags(inv)
    if dry_run:
        result = mint_host(inv, host, backend=None, sops=make_sops(inv), oauth_tags=tags)
    else:
        with open_backend(inv) as backend:
            result = mint_host(inv, host, backend=backend, sops=make_sops(inv), oauth_tags=tags)
    plan = result.plan
    if fmt == "json":
        _emit_json(
            {
                "host": host,
                "dry_run": result.dry_run,
                "key_id": result.key_id,
                "expires": _when(result.expires) or None,
                "tags": list(result.tags),
                "file": plan.rel_path,
                "recipients": list(plan.recipients),
                "previous_key_id": result.previous.key_id if result.previous else None,
            }
        )
        return 0
    req = plan.request
    if result.dry_run:
        typer.echo(
            f"would mint for {host}: tags={','.join(req.tags) or '-'} reusable={req.reusable}"
            f" ephemeral={req.ephemeral} preauthorized={req.preauthorized}"
            f" expiry={format_duration(req.expiry_seconds)}"
        )
        typer.echo(f"would seal {plan.rel_path} for {', '.join(plan.recipients)}")
        return 0
    typer.echo(f"minted {result.key_id} for {host} (expires {_when(result.expires)})")
    typer.echo(f"sealed {plan.rel_path} for {', '.join(plan.recipients)}")
    if result.previous and result.previous.key_id:
        typer.echo(f"previous key {result.previous.key_id} is still valid; `keys revoke` or rotate")
    return 0


@app.command("status")
def status(
    host: Annotated[
        list[str] | None, typer.Option("--host", metavar="NAME", help="Only these hosts.")
    ] = None,
    within: Annotated[
        str, typer.Option("--within", metavar="DURATION", help="Warn when expiring within.")
    ] = "14d",
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    fmt: FormatOpt = "text",
) -> int:
    """Table of each host's sealed key: id, tags, expiry and state (no decryption)."""
    inv = load_inventory(inventory)
    now = datetime.now(UTC)
    rows = key_status(inv, now=now, within=_duration(within), hosts=tuple(host or ()))
    if fmt == "json":
        _emit_json([_status_json(r) for r in rows])
    else:
        _status_table(rows)
    return 1 if any(r.state in BAD_STATES for r in rows) else 0


def _status_json(row: HostStatus) -> dict[str, Any]:
    left = int(row.expires_in.total_seconds()) if row.expires_in is not None else None
    return {
        "host": row.host,
        "state": row.state.value,
        "key_id": row.key_id or None,
        "tags": list(row.tags),
        "expires": _when(row.expires) or None,
        "expires_in_seconds": left,
        "detail": row.detail,
    }


def _status_table(rows: list[HostStatus]) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("host", "key id", "tags", "expires in", "state"):
        table.add_column(column)
    colours = {State.OK: "green", State.EXPIRING: "yellow", State.NO_HOST_KEY: "yellow"}
    for row in rows:
        colour = colours.get(row.state, "red")
        table.add_row(
            row.host,
            row.key_id or "-",
            ",".join(row.tags) or "-",
            _left(row.expires_in),
            f"[{colour}]{row.state.value}[/{colour}]",
        )
    Console(width=120, soft_wrap=True).print(table)


@app.command("rotate")
def rotate(
    host: Annotated[
        list[str] | None,
        typer.Option("--host", metavar="NAME", help="Rotate these hosts now (repeatable)."),
    ] = None,
    within: Annotated[
        str,
        typer.Option("--within", metavar="DURATION", help="Without --host: rotate keys due."),
    ] = "14d",
    host_keys: Annotated[
        Path | None,
        typer.Option(
            "--host-keys",
            metavar="DIR",
            help="Host SSH private keys (ssh_host_ed25519_key.<host>): prove each host decrypts.",
        ),
    ] = None,
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    fmt: FormatOpt = "text",
) -> int:
    """Mint + seal a new key, verify it is for the host, then revoke the old key."""
    inv = load_inventory(inventory)
    if host:
        names = list(host)
    else:
        due = due_hosts(inv, now=datetime.now(UTC), within=_duration(within))
        names = [s.host for s in due]
    if not names:
        typer.echo("nothing to rotate") if fmt != "json" else _emit_json([])
        return 0
    identities = host_identities(host_keys, names)
    sops = make_sops(inv)
    console = Console(stderr=True)
    quiet = len(names) < 2 or not console.is_terminal
    with (
        open_backend(inv) as backend,
        Progress(console=console, transient=True, disable=quiet) as progress,
    ):
        task = progress.add_task("rotating", total=len(names))
        results = rotate_all(
            inv,
            names,
            backend=backend,
            sops=sops,
            oauth_tags=oauth_tags(inv),
            identities=identities,
            progress=lambda _name: progress.advance(task),
        )
    if fmt == "json":
        _emit_json(
            [
                {
                    "host": r.host,
                    "old_key_id": r.old_id or None,
                    "new_key_id": r.new_id,
                    "expires": _when(r.expires),
                    "verified": r.verified,
                    "revoked_old": r.revoked_old,
                }
                for r in results
            ]
        )
        return 0
    for r in results:
        old = f"revoked {r.old_id}" if r.revoked_old else "no previous key"
        typer.echo(f"{r.host}: {r.new_id} (expires {_when(r.expires)}, {r.verified}); {old}")
    return 0


@app.command("revoke")
def revoke(
    host: Annotated[str, typer.Option("--host", metavar="NAME", help="The host.")],
    inventory: InventoryOpt = Path("tailcfg.yaml"),
) -> int:
    """Revoke HOST's sealed key at the server and delete secrets/HOST/tailscale.yaml."""
    inv = load_inventory(inventory)
    with open_backend(inv) as backend:
        result = revoke_host(inv, host, backend=backend)
    typer.echo(f"revoked {result.key_id} for {host}; removed {result.removed}")
    return 0


def _duration(text: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
