"""Live tailnets for the init tests: `tailcfg control serve` (a child process) holding the
homelab policy and its six devices, registered through the node protocol."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from nacl.public import PrivateKey

from tailcfg.control import keys
from tailcfg.control.bootstrap import init_state, read_admin_key
from tailcfg.control.client import ControlClient
from tailcfg.peers.headscale import free_port

ROOT = Path(__file__).resolve().parents[2]
HOMELAB = ROOT / "examples" / "homelab"
ODIN = "odin@example.com"
# name, tags, advertised routes (the homelab's autoApprovers approve them)
DEVICES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("laptop", (), ()),
    ("dao", ("tag:server",), ()),
    ("gateway", ("tag:router",), ("192.168.1.0/24",)),
    ("exit", ("tag:exit",), ("0.0.0.0/0", "::/0")),
    ("ci-runner", ("tag:ci",), ()),
    ("monitor", ("tag:monitoring",), ()),
)


@dataclass(frozen=True)
class Live:
    url: str
    admin_key: str
    policy_text: str


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a `tailcfg` child: this venv first on PATH, no user sops identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "TAILSCALE_"))}
    env.pop("HEADSCALE_API_KEY", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@contextlib.contextmanager
def control_serve(tmp: Path) -> Iterator[Live]:
    """`tailcfg control serve` with examples/homelab's policy and its six devices joined."""
    state = tmp / "control-state"
    init_state(state, admin_login=ODIN)
    port = free_port()
    log = tmp / "control.log"
    cmd = [sys.executable, "-m", "tailcfg.cli.main"]
    code = "import sys; from tailcfg.cli.main import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "control", "serve", "--state", str(state)]
    cmd += ["--policy", str(HOMELAB / "policy.hujson"), "--listen", f"127.0.0.1:{port}"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/key", timeout=1).raise_for_status()
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "control plane did not start"
                time.sleep(0.05)
        admin_key = read_admin_key(state)
        asyncio.run(_join_all(url, admin_key))
        yield Live(url, admin_key, (HOMELAB / "policy.hujson").read_text(encoding="utf-8"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def _join_all(url: str, admin_key: str) -> None:
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
        for name, tags, routes in DEVICES:
            create = {"reusable": False, "preauthorized": True, "tags": list(tags)}
            body = {"capabilities": {"devices": {"create": create}}}
            answer = await api.post("/api/v2/tailnet/-/keys", json=body)
            assert answer.status_code == 200, answer.text
            client = ControlClient(url, PrivateKey.generate())
            try:
                node = keys.public_text(PrivateKey.generate().public_key, keys.NODE_PREFIX)
                await client.register(
                    node, auth_key=answer.json()["key"], hostname=name, routable_ips=routes
                )
            finally:
                await client.aclose()
