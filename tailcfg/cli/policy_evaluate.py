"""Policy commands: test (run ``tests``/``sshTests``) and explain (why a verdict)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tailcfg.policy.evaluate.explain import explain_file, format_explanation
from tailcfg.policy.evaluate.report import render_json, render_junit, render_text
from tailcfg.policy.evaluate.run import run_tests_file


class TestFormat(StrEnum):
    __test__ = False  # not a pytest class

    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"


class ExplainFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


NodesOption = Annotated[
    Path | None,
    typer.Option(
        "--nodes",
        metavar="NODES",
        help="Topology (JSON/YAML list of devices); without it identities are symbolic.",
    ),
]


def test(
    policy: Annotated[Path, typer.Argument(metavar="POLICY", help="The policy file.")],
    nodes: NodesOption = None,
    fmt: Annotated[
        TestFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
    ] = TestFormat.TEXT,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Text: list passing assertions too.")
    ] = False,
) -> int:
    """Validate POLICY, then run its tests and sshTests as Tailscale's server does."""
    report = run_tests_file(policy, nodes_path=nodes)
    if fmt is TestFormat.JSON:
        typer.echo(render_json(report))
    elif fmt is TestFormat.JUNIT:
        typer.echo(render_junit(report), nl=False)
    else:
        typer.echo(render_text(report, verbose=verbose))
    return 0 if report.passed else 1


def explain(
    policy: Annotated[Path, typer.Argument(metavar="POLICY", help="The policy file.")],
    src: Annotated[str, typer.Argument(metavar="SRC", help="User, group, tag, host, IP, device.")],
    dst: Annotated[
        str, typer.Argument(metavar="DST:PORT", help="Tag, host, IP or device, and one port.")
    ],
    proto: Annotated[
        str | None, typer.Option("--proto", metavar="P", help="Protocol name or number.")
    ] = None,
    nodes: NodesOption = None,
    ssh: Annotated[
        str | None,
        typer.Option("--ssh", metavar="LOGIN", help="Explain an SSH login as LOGIN instead."),
    ] = None,
    fmt: Annotated[
        ExplainFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
    ] = ExplainFormat.TEXT,
) -> int:
    """Show the verdict for SRC -> DST:PORT and every rule (file:line) behind it."""
    result = explain_file(policy, src, dst, proto=proto, nodes_path=nodes, ssh_login=ssh)
    if fmt is ExplainFormat.JSON:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        typer.echo(format_explanation(result))
    return 0


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("test")(test)
    app.command("explain")(explain)
