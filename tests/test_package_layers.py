"""The CLI sits on top of the package: only ``tailcfg/cli/`` prints, and nothing imports it.

(The policy engine's own rooms are held by ``tests/test_policy_layers.py``.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import tailcfg

PACKAGE = Path(tailcfg.__file__).parent
CLI = PACKAGE / "cli"
# A subprocess whose stdout is its protocol (JSON lines to verify), not a user's terminal.
OWN_STDOUT = {PACKAGE / "peers" / "probeagent.py"}
TERMINAL_LIBRARIES = {"typer", "rich", "click"}


def library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if CLI not in p.parents)


def offences(path: Path) -> list[str]:
    """What in ``path`` belongs to the CLI: terminal libraries, print, writes to stdio."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        shown = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE) else path.name
        where = f"{shown}:{getattr(node, 'lineno', 0)}"
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in TERMINAL_LIBRARIES:
                found.append(f"{where}: imports {name}")
            if name == "tailcfg.cli" or name.startswith("tailcfg.cli."):
                found.append(f"{where}: imports {name}")
        if path in OWN_STDOUT:
            continue
        called = node.func if isinstance(node, ast.Call) else None
        if isinstance(called, ast.Name) and called.id == "print":
            found.append(f"{where}: print()")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("stdout", "stderr")
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            found.append(f"{where}: sys.{node.attr}")
    return found


def test_only_the_cli_talks_to_the_terminal() -> None:
    assert [o for p in library_modules() for o in offences(p)] == []


def test_the_check_sees_each_kind(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\nfrom rich.console import Console\nfrom tailcfg.cli import main\n"
        "def f() -> None:\n    print('x')\n    sys.stderr.write('y')\n",
        encoding="utf-8",
    )
    assert sorted(offences(probe)) == [
        "probe.py:2: imports rich.console",
        "probe.py:2: imports rich.console.Console",
        "probe.py:3: imports tailcfg.cli",
        "probe.py:3: imports tailcfg.cli.main",
        "probe.py:5: print()",
        "probe.py:6: sys.stderr",
    ]
