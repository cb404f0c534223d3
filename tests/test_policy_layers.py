"""The policy engine's rooms, read from the import graph of ``tailcfg/policy/``.

Imports flow one way: model -> validate -> compile -> evaluate -> (diff, graph, coverage).
A module may import its own room and the rooms before it, never a later one nor a
sibling of the last rank; every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import tailcfg
import tailcfg.policy

PACKAGE = Path(tailcfg.__file__).parent
POLICY = Path(tailcfg.policy.__file__).parent

RANK = {
    "model": 0,
    "validate": 1,
    "compile": 2,
    "evaluate": 3,
    "diff": 4,
    "graph": 4,
    "coverage": 4,
}
# What the engine may use from the rest of tailcfg: shared plumbing, never the CLI,
# the control plane, keys, verify or the nodes (they are built on the engine).
OUTSIDE_ALLOWED = {"errors", "gitobj", "hujson", "outputs", "resources", "source", "textfile"}

# pytest's default patterns (test_*.py, *_test.py) and nose's testMatch.
TEST_LIKE = re.compile(r"(?:^|[_.\-])[Tt]est")


def room_of(path: Path) -> str:
    rel = path.relative_to(POLICY)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def policy_modules() -> list[Path]:
    return sorted(p for p in POLICY.rglob("*.py") if p != POLICY / "__init__.py")


def imported(path: Path) -> list[tuple[int, str]]:
    """``(line, dotted name)`` of every tailcfg module ``path`` imports."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            # ``from tailcfg.policy import diff`` names a room; ``from x.y import z``
            # depends on x.y (and on z when z is a module: same room either way).
            if node.module in ("tailcfg", "tailcfg.policy"):
                out.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
            else:
                out.append((node.lineno, node.module))
    return [(line, name) for line, name in out if name.split(".")[0] == "tailcfg"]


def test_every_module_lives_in_a_known_room() -> None:
    rooms = {room_of(p) for p in policy_modules()}
    assert rooms == set(RANK)
    for room in RANK:
        if room != "coverage":
            assert (POLICY / room / "__init__.py").is_file(), room


def violations(path: Path, own: str) -> list[str]:
    """The imports of ``path`` (a module of room ``own``) that break the one-way flow."""
    problems = []
    for line, name in imported(path):
        parts = name.split(".")
        where = f"{path.relative_to(POLICY) if path.is_relative_to(POLICY) else path.name}:{line}"
        if parts[1:2] != ["policy"]:
            if parts[1:2] == [] or parts[1] not in OUTSIDE_ALLOWED:
                problems.append(f"{where}: the engine imports {name}")
        elif len(parts) == 2 or parts[2] not in RANK:
            problems.append(f"{where}: {name} is in no room")
        elif parts[2] != own and RANK[parts[2]] >= RANK[own]:
            problems.append(f"{where}: {own} imports {name}, a later room")
    return problems


def test_imports_flow_one_way() -> None:
    problems = [v for p in policy_modules() for v in violations(p, room_of(p))]
    assert problems == []


def test_no_dynamic_imports_hide_an_edge() -> None:
    for path in policy_modules():
        text = path.read_text(encoding="utf-8")
        assert "importlib" not in text and "__import__" not in text, path


def test_the_checker_sees_every_kind_of_backward_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from tailcfg.policy.model.nodes import Node\n"
        "def f() -> None:\n"
        "    from tailcfg.policy import diff\n"
        "import tailcfg.policy.graph.build\n"
        "from tailcfg.cli import main\n"
        "from tailcfg.policy.evaluate.world import World\n",
        encoding="utf-8",
    )
    assert violations(probe, "evaluate") == [
        "probe.py:4: evaluate imports tailcfg.policy.graph.build, a later room",
        "probe.py:5: the engine imports tailcfg.cli",
        "probe.py:3: evaluate imports tailcfg.policy.diff, a later room",
    ]
    assert violations(probe, "diff") == [
        "probe.py:4: diff imports tailcfg.policy.graph.build, a later room",
        "probe.py:5: the engine imports tailcfg.cli",
    ]


@pytest.mark.parametrize("room", sorted(r for r in RANK if r != "coverage"))
def test_room_exports_a_small_sorted_all(room: str) -> None:
    module = importlib.import_module(f"tailcfg.policy.{room}")
    lines = (module.__doc__ or "").strip().splitlines()
    assert [line.split(":")[0] for line in lines[2:]] == ["Takes", "Gives"], room
    exported = list(module.__all__)
    assert exported == sorted(exported)
    assert 0 < len(exported) <= 8
    submodules = {p.stem for p in (POLICY / room).glob("*.py")}
    for name in exported:
        assert getattr(module, name) is not None, f"{room}.{name}"
        # an export named like a submodule would replace it as the package's attribute
        assert name not in submodules, f"{room}.{name} shadows the module {room}/{name}.py"


def test_no_module_looks_like_a_test() -> None:
    test_like = [
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if TEST_LIKE.search(p.stem)
    ]
    assert test_like == []
