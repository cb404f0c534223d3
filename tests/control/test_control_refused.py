"""`control serve` with a policy the plane refuses, or a port in use: exit 1, one line per
failure with its position, a hint; nothing started, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tailcfg.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
HOMELAB_POLICY = ROOT / "examples" / "homelab" / "policy.hujson"


def test_serve_refused_policy_lists_failing_tests_and_hints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "S"
    assert main(["control", "init", "--state", str(state)]) == 0
    capsys.readouterr()
    args = ["control", "serve", "--state", str(state), "--policy", str(HOMELAB_POLICY)]
    assert main([*args, "--listen", "127.0.0.1:0"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[0] == f"{HOMELAB_POLICY}: policy refused: its tests fail on this control plane"
    reason = "invalid test: src 'odin@example.com' is not a user of this tailnet"
    assert err[1:4] == [
        f"{HOMELAB_POLICY}:86:3: tests[0] odin@example.com: {reason}",
        f"{HOMELAB_POLICY}:111:3: sshTests[0] odin@example.com: {reason}",
        f"{HOMELAB_POLICY}:116:3: sshTests[1] odin@example.com: {reason}",
    ]
    assert err[4].startswith("hint: the tailnet's users are admin@example.com;")
    assert "--admin-login LOGIN" in err[4]
    assert len(err) == 5


def test_serve_with_the_policy_admin_starts_past_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same policy is accepted once odin is the admin: the preflight passes (the port
    check then refuses a port that is taken, so nothing keeps running)."""
    state = tmp_path / "S"
    init = ["control", "init", "--state", str(state), "--admin-login", "odin@example.com"]
    assert main(init) == 0
    capsys.readouterr()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["control", "serve", "--state", str(state), "--policy", str(HOMELAB_POLICY)]
        assert main([*args, "--listen", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"--listen 127.0.0.1:{port}: cannot listen there: Address already in use"
    assert len(err) == 1  # the port: the policy was accepted


def test_serve_port_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "S"
    main(["control", "init", "--state", str(state)])
    capsys.readouterr()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["control", "serve", "--state", str(state), "--listen", f"127.0.0.1:{port}"])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"--listen 127.0.0.1:{port}: cannot listen there: Address already in use"
