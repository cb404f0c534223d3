"""`tailcfg policy ...`: one module per family of policy commands registers its own."""

from __future__ import annotations

import typer

from tailcfg.cli import policy_engine, policy_fmt, policy_gitops, policy_lint, policy_review

app = typer.Typer(
    help="Lint, format, test, compile and diff the policy file.", no_args_is_help=True
)

for _module in (policy_fmt, policy_lint, policy_engine, policy_review, policy_gitops):
    _module.register(app)
