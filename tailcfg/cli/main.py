"""Entry point: builds the typer app from one module per command group; maps errors to exits.

Exit codes: 0 ok, 1 the input is wrong (TailcfgError, findings, failed tests),
2 the command line is wrong, 3 tailcfg itself failed, 130 interrupted.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import typer
from typer._click import exceptions as click_exc  # typer vendors its own click

from tailcfg.cli import control, devices, hosts, init, keys, nix, node, policy, sops, verify
from tailcfg.errors import TailcfgError

app = typer.Typer(
    name="tailcfg",
    help="Declarative, provable Tailscale/Headscale tailnets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show a traceback for internal errors."),
) -> None:
    """Declarative, provable Tailscale/Headscale tailnets."""


app.add_typer(policy.app, name="policy")
app.add_typer(hosts.app, name="hosts")
app.add_typer(devices.app, name="devices")
app.add_typer(keys.app, name="keys")
app.add_typer(sops.app, name="sops")
app.add_typer(nix.app, name="nix")
app.add_typer(control.app, name="control")
app.add_typer(node.app, name="node")
verify.register(app)
init.register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (also the console script's)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="tailcfg", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except click_exc.NoArgsIsHelpError as exc:
        exc.show()
        return 0
    except click_exc.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TailcfgError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except OSError as exc:  # the file system said no: a directory where a file goes, ...
        if debug:
            traceback.print_exc()
        where = exc.filename2 if exc.filename2 is not None else exc.filename
        reason = exc.strerror or type(exc).__name__
        print(f"{where}: {reason}" if where is not None else f"tailcfg: {reason}", file=sys.stderr)
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            print(
                f"tailcfg: internal error: {type(exc).__name__}: {exc} (run with --debug)",
                file=sys.stderr,
            )
        return 3
    return result if isinstance(result, int) else 0


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
