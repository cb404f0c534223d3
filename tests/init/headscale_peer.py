"""A real Headscale (and real tailscaled nodes in userspace networking) on 127.0.0.1, built
by scripts/build-peers into .peers/bin. Everything runs in its own process group and is
killed at the end, also when a test fails midway."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tailcfg.peers.headscale import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("TAILCFG_PEERS_DIR", ROOT / ".peers")) / "bin"


def peer(name: str) -> Path:
    """The built peer binary; skips (fails under CI=true) when it is missing."""
    path = BIN / name
    if not path.is_file():
        reason = f"{path} is missing: run scripts/build-peers"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


CONFIG = """\
server_url: http://127.0.0.1:{port}
listen_addr: 127.0.0.1:{port}
metrics_listen_addr: 127.0.0.1:{metrics}
grpc_listen_addr: 127.0.0.1:{grpc}
noise:
  private_key_path: {dir}/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: false
  urls: []
  paths: [{dir}/derp.yaml]
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: {dir}/db.sqlite
dns:
  magic_dns: true
  base_domain: hs.test
  override_local_dns: false
unix_socket: {dir}/headscale.sock
unix_socket_permission: "0770"
policy:
  mode: database
log:
  level: warn
"""
# Headscale wants one DERP region; a relay on a closed local port (nodes here talk directly).
DERP = """\
regions:
  900:
    regionid: 900
    regioncode: none
    regionname: No relay
    nodes:
      - name: 900a
        regionid: 900
        hostname: 127.0.0.1
        ipv4: 127.0.0.1
        stunport: -1
        derpport: {port}
"""


@dataclass
class Headscale:
    dir: Path
    url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, *args: str) -> Any:
        done = subprocess.run(
            [str(peer("headscale")), "-c", str(self.dir / "config.yaml"), *args, "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout) if done.stdout.strip().startswith(("{", "[")) else None

    def api_key(self) -> str:
        done = subprocess.run(
            [str(peer("headscale")), "-c", str(self.dir / "config.yaml"), "apikeys", "create"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
        self.procs.append(proc)
        return proc

    def join(self, name: str, auth_key: str, routes: tuple[str, ...] = ()) -> None:
        """A real tailscaled (userspace networking) registered with ``auth_key``."""
        state = self.dir / f"ts-{name}"
        state.mkdir()
        sock = state / "tailscaled.sock"
        self.spawn(
            [
                str(peer("tailscaled")),
                "--tun=userspace-networking",
                f"--socket={sock}",
                f"--statedir={state}",
                "--port=0",
                "--no-logs-no-support",
            ],
            state / "tailscaled.log",
        )
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert time.monotonic() < deadline, (state / "tailscaled.log").read_text()
            time.sleep(0.05)
        up = [str(peer("tailscale")), f"--socket={sock}", "up", f"--login-server={self.url}"]
        up += [f"--auth-key={auth_key}", f"--hostname={name}", "--timeout=60s"]
        if routes:
            up.append(f"--advertise-routes={','.join(routes)}")
        done = subprocess.run(up, capture_output=True, text=True, timeout=90, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextlib.contextmanager
def headscale(tmp: Path) -> Iterator[Headscale]:
    binary = peer("headscale")
    peer("tailscaled")
    port = free_port()
    (tmp / "derp.yaml").write_text(DERP.format(port=free_port()))
    (tmp / "config.yaml").write_text(
        CONFIG.format(port=port, metrics=free_port(), grpc=free_port(), dir=tmp)
    )
    server = Headscale(tmp, f"http://127.0.0.1:{port}")
    try:
        proc = server.spawn(
            [str(binary), "-c", str(tmp / "config.yaml"), "serve"], tmp / "headscale.log"
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp / "headscale.log").read_text()
            assert time.monotonic() < deadline, "headscale did not start"
            time.sleep(0.1)
        yield server
    finally:
        server.stop()
