"""`tailcfg sops ...`: check that every secret is sealed, and sealed for the right keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.cli.keys import FormatOpt, InventoryOpt, make_sops
from tailcfg.inventory import load_inventory
from tailcfg.sopscheck import check_secrets

app = typer.Typer(help="Check sops-sealed secrets against .sops.yaml.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Check sops-sealed secrets against .sops.yaml."""


@app.command("check")
def check(
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Encrypt plaintext files; sops updatekeys -y; rotate on removal."
        ),
    ] = False,
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    fmt: FormatOpt = "text",
) -> int:
    """Every file under secrets_dir: sops-encrypted, MAC present, exact recipients."""
    inv = load_inventory(inventory)
    sops = make_sops(inv) if fix else None
    report = check_secrets(inv.secrets_dir, inv.sops_config, sops=sops, fix=fix)
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "files": len(report.files),
                    "fixed": list(report.fixed),
                    "findings": [{"code": f.code, "message": f.message} for f in report.findings],
                },
                indent=2,
            )
        )
    else:
        for line in report.fixed:
            typer.echo(f"fixed: {line}")
        for finding in report.findings:
            typer.echo(f"error[{finding.code}]: {finding.message}")
        verdict = "ok" if report.ok else f"{len(report.findings)} problem(s)"
        typer.echo(f"{len(report.files)} secret file(s) checked: {verdict}")
    return 0 if report.ok else 1
