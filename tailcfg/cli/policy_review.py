"""Policy commands for review: diff (who gains and loses access) and coverage (of tests)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.policy import coverage as coverage_lib
from tailcfg.policy.diff import render as diff_render
from tailcfg.policy.diff.compare import diff_sources


class DiffFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"
    GITHUB = "github"


class CoverageFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"


NodesOption = Annotated[
    Path | None,
    typer.Option(
        "--nodes",
        metavar="NODES",
        help="Topology (JSON/YAML list of devices); without it identities are symbolic.",
    ),
]


def diff(
    old: Annotated[
        str, typer.Argument(metavar="OLD", help="Policy file or REV:path (with --git: FILE).")
    ],
    new: Annotated[
        str | None, typer.Argument(metavar="NEW", help="Policy file or REV:path.")
    ] = None,
    nodes: NodesOption = None,
    fmt: Annotated[
        DiffFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
    ] = DiffFormat.TEXT,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when access or declarations change.")
    ] = False,
    git: Annotated[
        str | None,
        typer.Option("--git", metavar="REV", help="Compare the working FILE with REV:FILE."),
    ] = None,
) -> int:
    """Show who gains and who loses access between two versions of a policy."""
    if git is not None:
        if new is not None:
            raise typer.BadParameter("with --git give one FILE, not OLD and NEW")
        old, new = f"{git}:{old}", old
    elif new is None:
        raise typer.BadParameter("missing NEW (or use --git REV FILE)")
    result = diff_sources(old, new, nodes_path=nodes)
    typer.echo(diff_render.RENDERERS[fmt.value](result), nl=False)
    return 1 if exit_code and result.changed else 0


def coverage(
    policy: Annotated[Path, typer.Argument(metavar="POLICY", help="The policy file.")],
    nodes: NodesOption = None,
    fail_under: Annotated[
        float | None,
        typer.Option("--fail-under", metavar="PCT", help="Exit 1 when coverage is below PCT."),
    ] = None,
    fmt: Annotated[
        CoverageFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
    ] = CoverageFormat.TEXT,
) -> int:
    """Which rules no test exercises, which tests touch no rule, unused declarations."""
    report = coverage_lib.coverage_file(policy, nodes_path=nodes)
    typer.echo(coverage_lib.RENDERERS[fmt.value](report), nl=False)
    if fail_under is not None and report.percent < fail_under:
        return 1
    return 0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("diff")(diff)
    app.command("coverage")(coverage)
