"""`tailcfg verify --control headscale --node tailscaled examples/homelab`: the proof on real
peers (a real Headscale, one real tailscaled per host in a network namespace), one run for
the module; then what a broken host does and what missing peers / a wrong combination say.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakes.homelab import MATRIX
from realpeers import peers_dir
from tailscaled_helpers import binaries

from tailcfg.cli.main import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
HOMELAB = ROOT / "examples" / "homelab"

REAL = ["--control", "headscale", "--node", "tailscaled"]


def our_namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("tcn")}


def run_verify(
    capsys: pytest.CaptureFixture[str], directory: Path, *extra: str, peers: Path | None = None
) -> tuple[int, str, str]:
    where = str(peers or peers_dir())
    code = main(["verify", str(directory), *REAL, "--peers-dir", where, *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    binaries()  # root and the peers, or skip (fail in CI)
    argv = [
        str(Path(sys.executable).with_name("tailcfg")),
        "verify",
        str(HOMELAB),
        *REAL,
        "--peers-dir",
        str(peers_dir()),
        "--format",
        "json",
    ]
    before = our_namespaces()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    assert our_namespaces() <= before, "a namespace was left behind"
    assert done.returncode in (0, 1), done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def test_matrix_on_real_peers(report: dict[str, Any]) -> None:
    got = [(r["test"], r["expected"], r["engine"], r["observed"]) for r in report["rows"]]
    assert got == MATRIX
    assert [r["status"] for r in report["rows"]] == ["ok"] * len(MATRIX)
    assert (report["control"], report["node"], report["passed"]) == (
        "headscale",
        "tailscaled",
        True,
    )
    assert report["problems"] == [] and report["differences"] == []


def test_ssh_rows_come_from_real_tailscale_ssh(report: dict[str, Any]) -> None:
    reasons = {r["test"]: r["reason"] for r in report["rows"] if r["section"] == "sshTests"}
    assert (
        reasons["odin@example.com -> root@tag:server"] == "ssh: laptop->dao accept (authenticated)"
    )
    assert reasons["odin@example.com -> odin@tag:monitoring"].startswith(
        "ssh: laptop->monitor check (# Headscale SSH requires an additional check."
    )
    assert reasons["odin@example.com -> root@tag:monitoring"] == (
        "ssh: laptop->monitor deny (tailscale: tailnet policy does not permit you to SSH as "
        'user "root")'
    )
    assert reasons["tag:ci -> root@tag:server"] == "ssh: ci-runner->dao deny (tcp/22 timeout)"


def test_hosts_joined_with_their_tags_and_headscale_addresses(report: dict[str, Any]) -> None:
    hosts = {h["name"]: h for h in report["hosts"]}
    assert {n: (h["ok"], h["detail"], h["tags"]) for n, h in hosts.items()} == {
        "laptop": (True, "joined", []),
        "dao": (True, "joined", ["tag:server"]),
        "gateway": (True, "joined", ["tag:router"]),
        "exit": (True, "joined", ["tag:exit"]),
        "ci-runner": (True, "joined", ["tag:ci"]),
        "monitor": (True, "joined", ["tag:monitoring"]),
    }
    for h in hosts.values():
        v4, v6 = h["addresses"]
        assert v4.startswith("100.64.0.") and v6.startswith("fd7a:115c:a1e0::")


def test_nodes_received_what_policy_compile_says(report: dict[str, Any]) -> None:
    received = {r["node"]: (r["filter"], r["ssh"]) for r in report["received"]}
    assert received == {
        "laptop": ("equal", "equal"),
        "dao": ("equal", "equal"),
        "gateway": ("equal", "equal"),
        "exit": ("equivalent", "equal"),
        "ci-runner": ("equal", "equal"),
        "monitor": ("equal", "equivalent"),
    }


def test_revocation_drill_within_headscale_batching(report: dict[str, Any]) -> None:
    drill = report["drill"]
    assert drill["passed"] is True and drill["limit_ms"] == 2000.0
    assert 0 < drill["unreachable_after_ms"] <= 2000.0


def test_a_host_that_cannot_decrypt_fails_and_nothing_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binaries()
    directory = tmp_path / "homelab"
    shutil.copytree(HOMELAB, directory, ignore=shutil.ignore_patterns("secrets"))
    keys = directory / "demo-keys" / "hosts"
    (keys / "ssh_host_ed25519_key.dao").write_text(
        (keys / "ssh_host_ed25519_key.monitor").read_text()
    )
    before = our_namespaces()
    code, out, _err = run_verify(capsys, directory, "--no-drill", "--probe-timeout", "0.5")
    assert code == 1
    assert our_namespaces() <= before
    assert (
        "host dao: did not join: host dao cannot decrypt its key: secrets/dao/tailscale.yaml" in out
    )
    to_server = [
        line
        for line in out.splitlines()
        if ": mismatch " in line and ("-> tag:server:" in line or "@tag:server:" in line)
    ]
    assert len(to_server) == 10  # every tests / sshTests row towards tag:server
    assert all("no device has identity tag:server" in m for m in to_server), to_server


def test_wrong_combination_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["verify", str(HOMELAB), "--control", "headscale"])
    _out, err = capsys.readouterr()
    assert code == 2
    assert "tailscaled joins only Headscale (ts2021)" in err


def test_missing_peers_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_verify(capsys, HOMELAB, peers=tmp_path)
    assert (code, out) == (1, "")
    if os.geteuid() != 0:
        assert err == "verify --node tailscaled needs root to create network namespaces\n"
    else:
        assert err == (
            f"headscale not found at {tmp_path}/bin/headscale: run scripts/build-peers"
            " (or make peers)\n"
        )
