"""`tailcfg policy ...`: one module per family of policy commands registers its own."""

from __future__ import annotations

import typer

from tailcfg.cli import (
    policy_engine,
    policy_evaluate,
    policy_fmt,
    policy_gitops,
    policy_graph,
    policy_lint,
    policy_review,
)

app = typer.Typer(
    help="Lint, format, test, compile and diff the policy file.", no_args_is_help=True
)

for _module in (
    policy_fmt,
    policy_lint,
    policy_engine,
    policy_evaluate,
    policy_review,
    policy_gitops,
    policy_graph,
):
    _module.register(app)
