"""Policy commands: push, pull, drift (GitOps against the inventory's control server).

Settings are built here: the inventory (``--inventory/-i``, default ``./tailcfg.yaml``)
names the backend, URL, tailnet and policy file; credentials come from the environment
(TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID + TAILSCALE_OAUTH_CLIENT_SECRET;
HEADSCALE_API_KEY); the last-pushed ETag lives in ``.tailcfg/gitops-state.json`` beside
the inventory unless ``--state`` says otherwise.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tailcfg.gitops import (
    Action,
    DriftReport,
    GitopsState,
    PolicyChange,
    PushPlan,
    apply_push,
    check_drift,
    default_state_path,
    open_policy_client,
    plan_push,
    pull_policy,
)
from tailcfg.gitops.client import HeadscalePolicy, TailscalePolicy
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.keys.credentials import Credentials
from tailcfg.policy.model.nodes import Node, load_nodes


class DiffFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


InventoryOpt = Annotated[
    Path, typer.Option("--inventory", "-i", metavar="FILE", help="The inventory file.")
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="FILE",
        help="Last-pushed ETag file (default: .tailcfg/gitops-state.json beside the inventory).",
    ),
]
NodesOpt = Annotated[
    Path | None,
    typer.Option("--nodes", metavar="NODES", help="Topology for the semantic diff."),
]
FormatOpt = Annotated[
    DiffFormat, typer.Option("--format", help="text, markdown or json.", case_sensitive=False)
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `policy` group."""
    app.command("push")(push)
    app.command("pull")(pull)
    app.command("drift")(drift)


# --- settings built at the edge ------------------------------------------------------------


def _client(inventory: Inventory) -> TailscalePolicy | HeadscalePolicy:
    return open_policy_client(
        inventory.control,
        tailnet=inventory.tailnet,
        credentials=Credentials.from_environ(os.environ),
    )


def _state(inventory: Inventory, state: Path | None) -> GitopsState:
    return GitopsState(state if state is not None else default_state_path(inventory.root_dir))


def _nodes(path: Path | None) -> tuple[Node, ...] | None:
    return load_nodes(path) if path is not None else None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(path)


# --- commands -------------------------------------------------------------------------------


def push(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check, fetch and diff; write nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite a remote edited outside this repository."),
    ] = False,
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    state: StateOpt = None,
    nodes: NodesOpt = None,
    fmt: FormatOpt = DiffFormat.TEXT,
) -> int:
    """Lint and test the policy, diff it against the remote, then write it with If-Match."""
    inv = load_inventory(inventory)
    recorded = _state(inv, state)
    with _client(inv) as client:
        policy = Path(_shown(inv.policy))
        plan = plan_push(policy, client=client, state=recorded, nodes=_nodes(nodes))
        action = plan.action(force=force)
        _render_plan(plan, action, fmt=fmt, dry_run=dry_run)
        if dry_run:
            return _dry_run_verdict(plan, action)
        result = apply_push(plan, client=client, state=recorded, force=force)
    if result.action is Action.NO_CHANGE:
        typer.echo(f"no change: the remote already holds {_shown(inv.policy)}", err=True)
        return 0
    typer.echo(f"pushed {_shown(inv.policy)}: ETag {result.etag}", err=True)
    if not result.predicted:
        typer.echo(
            "note: the server's ETag is not the predicted one (it reformatted the policy)",
            err=True,
        )
    return 0


def _dry_run_verdict(plan: PushPlan, action: Action) -> int:
    if action is Action.REFUSE_DRIFT:
        typer.echo(f"dry run: would refuse\n{plan.drift_message()}", err=True)
        return 1
    if action is Action.REFUSE_SERVER:
        typer.echo(f"dry run: the server would refuse\n{plan.server_refusal}", err=True)
        return 1
    verdict = "no change" if action is Action.NO_CHANGE else "would push"
    typer.echo(f"dry run: {verdict}", err=True)
    return 0


def pull(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here (default: the policy)."),
    ] = None,
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    state: StateOpt = None,
) -> int:
    """Fetch the remote policy as HuJSON and write it atomically."""
    inv = load_inventory(inventory)
    dest = output if output is not None else inv.policy
    into_policy = dest.resolve() == inv.policy.resolve()
    with _client(inv) as client:
        result = pull_policy(dest, client=client, state=_state(inv, state) if into_policy else None)
    verb = "wrote" if result.written else "unchanged"
    typer.echo(f"{verb} {_shown(result.path)} (remote ETag {result.etag})", err=True)
    if result.recorded:
        typer.echo("recorded the remote's ETag as the base for the next push", err=True)
    return 0


def drift(
    inventory: InventoryOpt = Path("tailcfg.yaml"),
    state: StateOpt = None,
    nodes: NodesOpt = None,
    fmt: FormatOpt = DiffFormat.TEXT,
) -> int:
    """Exit 1 when the remote policy grants different access than the file (with the diff)."""
    inv = load_inventory(inventory)
    with _client(inv) as client:
        report = check_drift(
            Path(_shown(inv.policy)), client=client, state=_state(inv, state), nodes=_nodes(nodes)
        )
    _render_drift(report, fmt=fmt, remote=client.remote)
    return 1 if report.drifted else 0


# --- rendering ------------------------------------------------------------------------------


def _plan_json(plan: PushPlan, action: Action, dry_run: bool) -> dict[str, Any]:
    return {
        "remote": plan.remote_name,
        "remote_etag": plan.remote.etag,
        "local_etag": plan.local.etag,
        "recorded_etag": plan.recorded.etag if plan.recorded else None,
        "action": action.value,
        "dry_run": dry_run,
        "server_validated": plan.server_validated,
        "server_refusal": str(plan.server_refusal) if plan.server_refusal else None,
        "change": _change_json(plan.change),
    }


def _change_json(change: PolicyChange) -> dict[str, Any]:
    return {
        "summary": change.summary,
        "same_text": change.same_text,
        "same_value": change.same_value,
        "same_access": change.same_access,
        "engine": change.engine,
        "diff": change.data,
        "note": change.note or None,
    }


_HEADLINES = {
    Action.NO_CHANGE: "no change (the remote holds this file)",
    Action.APPLY: "push",
    Action.REFUSE_DRIFT: "refused: the remote was edited outside the repository",
    Action.REFUSE_SERVER: "refused by the server",
}


def _render_plan(plan: PushPlan, action: Action, *, fmt: DiffFormat, dry_run: bool) -> None:
    if fmt is DiffFormat.JSON:
        typer.echo(json.dumps(_plan_json(plan, action, dry_run), indent=2, sort_keys=True))
        return
    if fmt is DiffFormat.MARKDOWN:
        prefix = "would " if dry_run and action is Action.APPLY else ""
        typer.echo(f"### tailcfg policy push: {prefix}{_HEADLINES[action]}\n")
        typer.echo(f"Remote `{plan.remote_name}`, policy `{_shown(plan.local.path)}`: ")
        typer.echo(f"{plan.change.summary}.\n")
        if plan.server_refusal is not None:
            typer.echo(f"```\n{plan.server_refusal.server_text}\n```\n")
        typer.echo(plan.change.markdown, nl=False)
        return
    recorded = plan.recorded
    typer.echo(f"remote    {plan.remote_name}  ETag {plan.remote.etag[:16]}")
    typer.echo(f"local     {_shown(plan.local.path)}  ETag {plan.local.etag[:16]} (predicted)")
    seen = f"{recorded.etag[:16]} ({recorded.by} at {recorded.recorded})" if recorded else "none"
    typer.echo(f"recorded  {seen}")
    _render_change(plan.change)


def _render_change(change: PolicyChange) -> None:
    typer.echo(f"diff remote -> local ({change.engine}): {change.summary}")
    if change.note:
        typer.echo(f"note: {change.note}")
    if change.text:
        typer.echo(change.text, nl=not change.text.endswith("\n"))


def _render_drift(report: DriftReport, *, fmt: DiffFormat, remote: str) -> None:
    if fmt is DiffFormat.JSON:
        out = {
            "remote": remote,
            "remote_etag": report.remote.etag,
            "local_etag": report.local.etag,
            "recorded_etag": report.recorded.etag if report.recorded else None,
            "drifted": report.drifted,
            "edited_outside": report.edited_outside,
            "change": _change_json(report.change),
        }
        typer.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    if fmt is DiffFormat.MARKDOWN:
        verdict = "the remote differs" if report.drifted else "in sync"
        typer.echo(f"### tailcfg policy drift: {verdict}\n")
        typer.echo(
            f"Remote `{remote}` vs `{_shown(report.local.path)}`: {report.change.summary}.\n"
        )
        typer.echo(report.change.markdown, nl=False)
        return
    typer.echo(f"remote    {remote}  ETag {report.remote.etag[:16]}")
    typer.echo(f"local     {_shown(report.local.path)}")
    _render_change(report.change)
    if report.edited_outside:
        typer.echo("the remote was edited outside this repository since the last push")
