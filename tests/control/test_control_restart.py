"""SIGKILL the server process mid-load; restarted on the same state, nothing registered is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from control_helpers import ADMIN, POLICY, Member, mint, run

from tailcfg.control.bootstrap import init_state, read_admin_key

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(state: Path, policy: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``tailcfg control serve`` in a child process; killed (if still alive) at the end."""
    code = "import sys; from tailcfg.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = ["control", "serve", "--state", str(state), "--policy", str(policy)]
    args += ["--listen", f"127.0.0.1:{port}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/key", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def _load(url: str, admin_key: str, members: list[Member], stop: asyncio.Event) -> None:
    """Keep registering and streaming new devices until ``stop`` (or the server dies)."""
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as admin:
        key = await mint(admin, reusable=True, preauthorized=True)
    n = 0
    while not stop.is_set():
        member = Member(url, f"load{n}")
        n += 1
        try:
            await member.join(key)
        except (httpx.TransportError, OSError):
            await member.close()
            return
        members.append(member)


def test_sigkill_mid_load_then_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init_state(state, admin_login=ADMIN)
    policy = tmp_path / "policy.hujson"
    policy.write_text(POLICY, encoding="utf-8")
    port, log = _free_port(), tmp_path / "server.log"
    url, admin_key = f"http://127.0.0.1:{port}", read_admin_key(state)
    members: list[Member] = []

    async def scenario() -> tuple[set[int], list[dict[str, Any]]]:
        with server(state, policy, port, log) as proc:
            stop = asyncio.Event()
            loader = asyncio.create_task(_load(url, admin_key, members, stop))
            while len(members) < 15:
                await asyncio.sleep(0.01)
            for m in members[:10]:
                await m.start()
            os.kill(proc.pid, signal.SIGKILL)  # mid-load: registrations are still running
            stop.set()
            await loader
            for m in members[:10]:  # each stream ends when the server dies
                while await m.next() is not None:
                    pass
                assert isinstance(m.error, httpx.TransportError)
            assert proc.wait() == -signal.SIGKILL
        with server(state, policy, port, log):
            headers = {"Authorization": f"Bearer {admin_key}"}
            async with httpx.AsyncClient(base_url=url, headers=headers) as admin:
                listed = (await admin.get("/api/v2/tailnet/-/devices")).json()["devices"]
            fulls = [await m.start() for m in members[:10]]  # same machine and node keys
            for m in members:
                await m.close()
        return {int(d["id"]) for d in listed}, fulls

    listed, fulls = run(scenario())
    registered = {m.id for m in members}
    assert len(registered) >= 15
    assert registered <= listed  # every registration that was answered survived
    for m, full in zip(members[:10], fulls, strict=True):
        assert full["Node"]["ID"] == m.id
        assert full["Node"]["Addresses"] == m.identity["Addresses"]
        assert len(full["Peers"]) == len(listed) - 1
