"""Policy commands: lint (syntax, schema, the server's rejections, unused declarations)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tailcfg import outputs
from tailcfg.policy.validate.lint import RULES, lint_files


class LintFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("lint")(lint)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tailcfg")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def lint(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Policy files.")],
    output: Annotated[
        LintFormat,
        typer.Option("--format", help="text, json, github (annotations) or sarif (2.1.0)."),
    ] = LintFormat.text,
    domain: Annotated[
        list[str] | None,
        typer.Option(
            "--domain",
            metavar="DOMAIN",
            help="The tailnet's domain, to check user:*@DOMAIN and localpart:*@DOMAIN "
            "(repeatable; unchecked when absent).",
        ),
    ] = None,
) -> int:
    """Check policy files the way Tailscale's server does; exit 1 on any error."""
    results = lint_files(files, domains=domain or None)
    if output is LintFormat.sarif:
        text = outputs.render_sarif(
            results,
            tool_version=_version(),
            rule_descriptions=RULES,
        )
    else:
        text = outputs.RENDERERS[output.value](results)
    typer.echo(text, nl=False)
    return 0 if all(result.ok for result in results) else 1
