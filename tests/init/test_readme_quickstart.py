"""The README's real-tailnet quick start, line by line, against the loopback Tailscale API
(tests/fakes/tailnet_api.py): init --from tailscale, policy test, keys mint."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from fakes.sshkeys import ssh_key
from fakes.tailnet_api import serve_tailnet
from init_tailnets import ROOT, cli_env

from tailcfg.errors import SopsError
from tailcfg.sops import find_sops

ADMIN_AGE = "age1fdwhcg84ns28vlm0zana7gpwhhvan0dvw0rf78zf2wz0pkexcpds36q7ge"


def quick_start_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Your own tailnet**", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1).strip().splitlines()


def test_readme_shows_both_paths() -> None:
    assert quick_start_lines() == [
        "tailcfg init --from tailscale mytailnet && cd mytailnet",
        "tailcfg policy test policy.hujson --nodes devices.json",
        "tailcfg keys mint --host NAME",
    ]
    assert "make demo" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_runs_against_the_loopback_api(tmp_path: Path) -> None:
    try:
        find_sops(search_path=os.environ.get("PATH"))
    except SopsError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"sops is not available: {exc}")
    identity = tmp_path / "keys.txt"
    identity.write_text(
        "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33\n"
    )
    env_extra = {"SOPS_AGE_KEY_FILE": str(identity)}
    with serve_tailnet() as api:
        env = cli_env(TAILSCALE_API_KEY=next(iter(api.state.api_keys)), **env_extra)
        cwd = tmp_path
        outputs = []
        for line in quick_start_lines():
            first, _, rest = line.partition(" && ")
            args = shlex.split(first)
            if args[1] == "init":
                args += ["--url", api.url]  # the loopback API instead of Tailscale's
            if args[1:3] == ["keys", "mint"]:
                args[-1] = "web"
                key = tmp_path / "web.pub"
                key.write_text(ssh_key(7).public_line + "\n")
                added = subprocess.run(
                    ["tailcfg", "hosts", "add", "web", "--ssh-host-key", str(key)],
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert added.returncode == 0, added.stderr
            done = subprocess.run(
                args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
            assert "Traceback" not in done.stderr
            outputs.append(done.stdout + done.stderr)
            if rest:
                assert rest == "cd mytailnet"
                cwd = cwd / "mytailnet"
    init_out, test_out, mint_out = outputs
    assert "create    tailcfg.yaml" in init_out
    assert "admin recipient from" in init_out
    assert "2 assertions in 2 test entries (topology): 2 passed, 0 failed: passed" in test_out
    assert re.search(r"minted \S+ for web \(expires ", mint_out)
    sealed = (cwd / "secrets" / "web" / "tailscale.yaml").read_text()
    assert "ENC[" in sealed and "tskey-auth-" not in sealed
    assert (cwd / "policy.hujson").read_text() == api.state.policy
