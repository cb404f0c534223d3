"""`control init` and `serve`: the admin key written once, clean SIGTERM, no keys in logs."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import httpx
import pytest
from control_helpers import POLICY, Member, mint, run
from test_control_restart import _free_port, server

from tailcfg.cli.main import main
from tailcfg.control.bootstrap import read_admin_key


def test_init_writes_admin_key_once_and_never_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert (
        main(["control", "init", "--state", str(state), "--admin-login", "odin@example.com"]) == 0
    )
    out = capsys.readouterr()
    key = read_admin_key(state)
    assert key.startswith("tskey-api-")
    assert key not in out.out + out.err
    assert stat.S_IMODE((state / "admin.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "control.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "control.db").stat().st_mode) == 0o600
    assert out.out.splitlines()[0] == f"initialised {state}"
    assert main(["control", "init", "--state", str(state)]) == 1
    assert capsys.readouterr().err == (
        f"{state}: already initialised (the admin key is not shown again)\n"
    )


@pytest.mark.slow
def test_serve_stops_cleanly_on_sigterm_and_logs_no_secrets(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert main(["control", "init", "--state", str(state)]) == 0
    policy = tmp_path / "policy.hujson"
    policy.write_text(POLICY, encoding="utf-8")
    port, log = _free_port(), tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}"
    admin_key = read_admin_key(state)
    secrets: list[str] = [admin_key]

    async def scenario(proc_pid: int) -> None:
        headers = {"Authorization": f"Bearer {admin_key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as admin:
            auth_key = await mint(admin, preauthorized=True)
            secrets.append(auth_key)
            bad = await admin.get("/api/v2/tailnet/-/keys", headers={"Authorization": "Bearer x"})
            assert bad.status_code == 401
        member = Member(url, "box")
        try:
            await member.join(auth_key)
            await member.start()
            os.kill(proc_pid, signal.SIGTERM)
            while await member.next(timeout=20) is not None:  # the stream ends with the server
                pass
        finally:
            await member.close()

    with server(state, policy, port, log) as proc:
        run(scenario(proc.pid))
        assert proc.wait(timeout=30) == 0
    text = log.read_text(encoding="utf-8")
    assert "auth key" in text  # the server did log (the key's id, not its secret)
    for secret in secrets:
        assert secret not in text
    assert "privkey:" not in text and "tskey-auth-" not in text
