"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself (``try-repo``).

A clean clone of this repository at HEAD is the hook repository (try-repo reads the
committed tree); the target is a temporary git repository holding the homelab example.
Every hook passes on the good files and fails, saying why, on the bad ones. try-repo
installs the hooks' environment (pip, from the configured package index) into a fresh
store on every call, so the test makes two calls: good files, then bad files.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOMELAB = ROOT / "examples" / "homelab"
HOOKS = [
    "tailcfg-policy-fmt",
    "tailcfg-policy-lint",
    "tailcfg-policy-test",
    "tailcfg-sops-check",
    "tailcfg-nix-render",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("pre_commit") is None, reason="pre-commit is not installed"
    ),
]

# Not in canonical layout, names an undeclared tag (the server rejects it).
BAD_POLICY = """{"tagOwners": {"tag:web": ["alice@example.com"]},
"acls": [{"action": "accept", "src": ["alice@example.com"], "dst": ["tag:web:443", "tag:nope:22"]}],
"tests": [{"src": "alice@example.com", "accept": ["tag:web:22"]}]}
"""


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=800
    )
    return proc.stdout + proc.stderr


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _tailcfg(cwd: Path, *args: str) -> None:
    code = "import sys; from tailcfg.cli.main import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("precommit")
    hooks_repo = base / "tailcfg"
    _git(base, "clone", "-q", str(ROOT), str(hooks_repo))
    target = base / "tailnet"
    shutil.copytree(HOMELAB, target)
    (target / "policy.v2.hujson").unlink()
    _tailcfg(target, "nix", "render")
    _git(target, "init", "-q")
    _git(target, "add", ".")
    _git(target, "commit", "-q", "-m", "homelab")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_"))}
    env["PRE_COMMIT_HOME"] = str(base / "pre-commit-home")
    env.pop("PIP_NO_BUILD_ISOLATION", None)
    return hooks_repo, target, env


def _try_repo(setup: tuple[Path, Path, dict[str, str]], *files: str) -> dict[str, str]:
    """Run every hook on ``files``; each hook's status line and output, by hook id."""
    hooks_repo, target, env = setup
    args = [sys.executable, "-m", "pre_commit", "try-repo", str(hooks_repo), "--verbose"]
    out = _run(target, *args, "--files", *files, env=env)
    sections = re.split(r"\n(?=tailcfg [^\n]*\.{3,})", out)
    found: dict[str, str] = {}
    for section in sections:
        match = re.search(r"^- hook id: (\S+)$", section, re.MULTILINE)
        if match:
            found[match.group(1)] = section
    assert sorted(found) == sorted(HOOKS), out
    return found


def test_hooks_pass_on_good_files(setup: tuple[Path, Path, dict[str, str]]) -> None:
    found = _try_repo(setup, "policy.hujson", "tailcfg.yaml", ".sops.yaml")
    for hook, section in found.items():
        assert re.search(r"\.{3,}Passed$", section.splitlines()[0]), (hook, section)
    assert "1 file checked: 0 errors, 0 warnings" in found["tailcfg-policy-lint"]
    assert "passed" in found["tailcfg-policy-test"]
    assert "0 secret file(s) checked: ok" in found["tailcfg-sops-check"]


def test_hooks_fail_on_bad_files(setup: tuple[Path, Path, dict[str, str]]) -> None:
    _, target, _ = setup
    bad = target / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "policy.hujson").write_text(BAD_POLICY, encoding="utf-8")
    (target / "secrets" / "dao").mkdir(parents=True, exist_ok=True)
    (target / "secrets" / "dao" / "tailscale.yaml").write_text("tailscale_authkey: x\n")
    inventory = target / "tailcfg.yaml"
    text = inventory.read_text(encoding="utf-8")
    inventory.write_text(text.replace("192.168.1.0/24", "192.168.2.0/24"), encoding="utf-8")
    _git(target, "add", ".")
    found = _try_repo(setup, "bad/policy.hujson", "secrets/dao/tailscale.yaml", "tailcfg.yaml")
    for hook, section in found.items():
        assert re.search(r"\.{3,}Failed$", section.splitlines()[0]), (hook, section)
    fmt = found["tailcfg-policy-fmt"]
    assert "- files were modified by this hook" in fmt
    assert "reformatted bad/policy.hujson" in fmt
    rejected = (
        'bad/policy.hujson:6:29: error[undefined-tag]: dst="tag:nope": tag not found: "tag:nope"'
    )
    assert found["tailcfg-policy-test"].endswith(f"\n\n{rejected}\n")
    assert (
        "error[not-encrypted]: secrets/dao/tailscale.yaml: not sops-encrypted"
        in (found["tailcfg-sops-check"])
    )
    assert "stale: nix/hosts/gateway.nix" in found["tailcfg-nix-render"]
    lint = found["tailcfg-policy-lint"]
    assert lint.endswith(f"\n\n{rejected}\n1 file checked: 1 error, 0 warnings\n"), lint
