"""`tailcfg verify [DIR]`: the end-to-end proof, with rich progress and a matrix at the end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from tailcfg.verify import MISMATCH, NOT_PROBED, Event, VerifyOptions, VerifyReport, verify
from tailcfg.verify.model import DEFAULT_HOST_KEY

STYLE = {"ok": "green", MISMATCH: "bold red", NOT_PROBED: "yellow"}


class _Progress:
    """Turns verify's events into lines (stages) and a bar (probes) on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("[bold]probes"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None

    def __call__(self, event: Event) -> None:
        if event.stage == "probe":
            if self.task is None:
                self.bar.start()
                self.task = self.bar.add_task("", total=event.total)
            self.bar.update(self.task, completed=event.done, description=event.message)
            if event.done == event.total:
                self.bar.stop()
            return
        mark = "[green]✓[/]" if event.ok else "[red]✗[/]"
        self.console.print(
            f"{mark} [bold]{event.stage}[/] {event.message}", highlight=False, soft_wrap=True
        )

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


def render_matrix(report: VerifyReport, console: Console) -> None:
    table = Table(title=f"tailcfg verify {report.directory}", title_justify="left")
    for name, justify in (
        ("test", "left"),
        ("expected", "left"),
        ("engine", "left"),
        ("observed", "left"),
        ("time", "right"),
        ("result", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in report.rows:
        style = STYLE.get(row.status, "")
        table.add_row(
            row.test,
            row.expected,
            row.engine,
            row.observed,
            f"{row.time_ms:.0f} ms",
            f"[{style}]{row.status}[/]",
        )
    console.print(table)


def render_text(report: VerifyReport, console: Console) -> None:
    for error in report.lint_errors:
        console.print(error, highlight=False, soft_wrap=True)
    for host in report.hosts:
        if not host.ok:
            console.print(
                f"[red]host {host.name}[/]: {host.detail}", highlight=False, soft_wrap=True
            )
    if report.rows:
        render_matrix(report, console)
    for row in report.rows:
        if row.status != "ok":
            colour = STYLE.get(row.status, "")
            what = f"{row.location}: {row.status} {row.section}[{row.entry}] {row.test}"
            console.print(f"[{colour}]{what}[/]: {row.reason}", highlight=False, soft_wrap=True)
    for row in report.rows:
        if row.warning:
            what = f"{row.location}: warning {row.section}[{row.entry}] {row.test}"
            console.print(f"[yellow]{what}[/]: {row.warning}", highlight=False, soft_wrap=True)
    for difference in report.differences:
        console.print(
            f"[yellow]difference[/] (recorded, not a failure): {difference}",
            highlight=False,
            soft_wrap=True,
        )
    for received in report.received:
        if not received.agrees:
            console.print(
                f"[yellow]received[/] {received.node}: filter {received.filter}, ssh "
                f"{received.ssh}: {received.detail}",
                highlight=False,
                soft_wrap=True,
            )
    if report.received:
        agree = sum(r.agrees for r in report.received)
        console.print(
            f"received filters: {agree}/{len(report.received)} nodes agree with policy compile "
            f"({sum(r.filter == 'equal' for r in report.received)} filters equal, "
            f"{sum(r.ssh == 'equal' for r in report.received)} SSH policies equal)",
            highlight=False,
            soft_wrap=True,
        )
    for problem in (*report.problems, *report.notes):
        console.print(f"[yellow]note[/]: {problem}", highlight=False, soft_wrap=True)
    if report.drill is not None:
        colour = "green" if report.drill.passed else "red"
        console.print(
            f"[{colour}]revocation drill[/]: {report.drill.reason}", highlight=False, soft_wrap=True
        )
    t = report.timings
    if report.rows:
        console.print(
            f"{len(report.rows)} assertions, {sum(r.failed for r in report.rows)} mismatches, "
            f"{sum(r.status == NOT_PROBED for r in report.rows)} not probed; {t.probes} probes; "
            f"bootstrap {t.bootstrap_s:.2f} s, mesh {t.mesh_s:.2f} s, "
            f"handshakes {t.handshake_ms:.0f} ms, probes {t.probe_s:.2f} s, "
            f"total {t.total_s:.2f} s",
            highlight=False,
            soft_wrap=True,
        )
    verdict = "[bold green]verified[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(verdict)


def register(app: typer.Typer) -> None:
    """Add the top-level `verify` command to the root app."""

    @app.command("verify")
    def verify_command(
        directory: Annotated[
            Path, typer.Argument(metavar="DIR", help="Repository with tailcfg.yaml.")
        ] = Path("."),
        output: Annotated[
            str, typer.Option("--format", metavar="text|json", help="Output format.")
        ] = "text",
        keep: Annotated[
            bool,
            typer.Option("--keep", help="Keep the control plane and nodes running until Ctrl-C."),
        ] = False,
        host_keys: Annotated[
            str,
            typer.Option(
                "--host-keys",
                metavar="TEMPLATE",
                help="SSH host private key of each host ({host} is replaced), relative to DIR.",
            ),
        ] = DEFAULT_HOST_KEY,
        drill: Annotated[
            bool,
            typer.Option("--drill/--no-drill", help="Run the revocation drill (deletes a device)."),
        ] = True,
        probe_timeout: Annotated[
            float,
            typer.Option("--probe-timeout", metavar="SECONDS", help="Wait for each answer."),
        ] = 1.0,
        control: Annotated[
            str,
            typer.Option(
                "--control",
                metavar="embedded|headscale",
                help="The control server: tailcfg's embedded one, or a real headscale serve.",
            ),
        ] = "embedded",
        node: Annotated[
            str,
            typer.Option(
                "--node",
                metavar="python|tailscaled",
                help="The nodes: tailcfg's Python node, or real tailscaled in network namespaces"
                " (root; with --control headscale).",
            ),
        ] = "python",
        peers_dir: Annotated[
            Path | None,
            typer.Option(
                "--peers-dir",
                metavar="DIR",
                help="Where scripts/build-peers put bin/ (default: $TAILCFG_PEERS_DIR or .peers).",
            ),
        ] = None,
    ) -> int:
        """Boot the declared tailnet (control plane + one node per host) and prove its tests."""
        if output not in ("text", "json"):
            raise typer.BadParameter("expected text or json", param_hint="--format")
        if control not in ("embedded", "headscale"):
            raise typer.BadParameter("expected embedded or headscale", param_hint="--control")
        if node not in ("python", "tailscaled"):
            raise typer.BadParameter("expected python or tailscaled", param_hint="--node")
        if (control == "headscale") != (node == "tailscaled"):
            raise typer.BadParameter(
                "tailscaled joins only Headscale (ts2021) and the Python node only the embedded"
                " control plane: use --control headscale --node tailscaled, or neither",
                param_hint="--control/--node",
            )
        peers = peers_dir or Path(os.environ.get("TAILCFG_PEERS_DIR") or ".peers")
        out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
        err = Console(stderr=True)
        progress = _Progress(err)
        shown: list[VerifyReport] = []

        async def hold(report: VerifyReport) -> None:
            progress.close()
            _render(report, output, out)
            shown.append(report)
            err.print(f"control plane: {report.control_url} (Ctrl-C to stop)", soft_wrap=True)
            err.print(f"admin API key: {report.admin_key_file}", soft_wrap=True)
            await _until_signalled()

        options = VerifyOptions(
            directory=directory,
            host_key_path=host_keys,
            probe_timeout=probe_timeout,
            drill=drill,
            control=control,
            node=node,
            peers_dir=peers,
        )
        try:
            report = verify(options, on_event=progress, hold=hold if keep else None)
        finally:
            progress.close()
        if not shown:
            _render(report, output, out)
        return 0 if report.passed else 1


async def _until_signalled() -> None:
    """Wait for SIGINT / SIGTERM (then verify stops the nodes and the control plane)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _render(report: VerifyReport, output: str, console: Console) -> None:
    if output == "json":
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        render_text(report, console)
