"""A real ``tailscaled`` in its own network namespace, and the ``tailscale`` CLI against it.

::

    with Lan.create() as lan:
        node = Tailscaled.start(lan.namespace("dao"), work / "dao",
                                tailscaled=locate("tailscaled", peers), tailscale=...)
        node.up(login_server=url, auth_key_file=path, hostname="dao", ssh=True)
        node.status()          # `tailscale status --json`, decoded
        node.addresses         # ("100.64.0.1", "fd7a:115c:a1e0::1")
        node.packet_filter()   # the netmap's PacketFilterRules (tailcfg.FilterRule list)
        node.ssh_policy()      # the netmap's SSHPolicy ({"rules": [...]}), {} when none
        node.close()            # process group killed; the Lan deletes the namespace

tailscaled runs in TUN mode (``--tun tailscale0``) inside the namespace, with its state,
socket and log in ``state_dir`` (the socket in a short temporary directory: unix socket
paths are limited to 107 bytes), log uploads off (``--no-logs-no-support``). ``up`` never
touches the machine's DNS or firewall (``--accept-dns=false --netfilter-mode=off``: the
Tailscale packet filter inside tailscaled still enforces the policy) and passes the auth
key as ``file:PATH`` (never in argv). The CLI runs in the root namespace: the socket is a
file. :class:`NodeProbes` drives :mod:`tailcfg.peers.probeagent` inside the namespace
(listeners on the tailnet addresses, TCP/UDP/ICMP probes, the OpenSSH client).
Failures are :class:`PeerError` with one line (the CLI's own last line, or the log's).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailcfg.closing import Closing
from tailcfg.errors import PeerError
from tailcfg.peers.netns import Namespace

START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
CLI_TIMEOUT = 30.0
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def lan_derp_map(host_ip: str, *, derp_port: int = 3340, stun_port: int = 3478) -> str:
    """A DERP map (Headscale's ``derp.paths`` YAML) of one region on the LAN's root address,
    where nothing answers. Headscale refuses to start without a DERP region, and tailscaled
    needs its STUN packets to be *sendable*: with no route to a STUN server its netcheck
    reports a send error and magicsock rebinds its socket every few seconds, breaking the
    direct paths. Sent to the LAN's root address, they leave and go unanswered, and nodes
    talk over direct paths only."""
    return (
        "regions:\n"
        "  900:\n"
        "    regionid: 900\n"
        "    regioncode: lan\n"
        "    regionname: tailcfg LAN (nothing answers)\n"
        "    nodes:\n"
        "      - name: 900a\n"
        "        regionid: 900\n"
        f"        hostname: {host_ip}\n"
        f"        ipv4: {host_ip}\n"
        "        ipv6: none\n"
        f"        stunport: {stun_port}\n"
        f"        derpport: {derp_port}\n"
    )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


@dataclass
class Tailscaled(Closing):
    """A running tailscaled in a namespace (see the module docstring); a context manager."""

    ns: Namespace
    state_dir: Path
    tailscale: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    socket_dir: Path = field(repr=False)

    @property
    def name(self) -> str:
        return self.ns.label

    @property
    def socket(self) -> Path:
        return self.socket_dir / "tailscaled.sock"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "tailscaled.log"

    @classmethod
    def start(
        cls,
        ns: Namespace,
        state_dir: Path,
        *,
        tailscaled: Path,
        tailscale: Path,
        start_timeout: float = START_TIMEOUT,
    ) -> Tailscaled:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        socket_dir = Path(tempfile.mkdtemp(prefix="ts-"))
        argv = ns.argv(
            str(tailscaled),
            f"--statedir={state_dir}",
            f"--socket={socket_dir / 'tailscaled.sock'}",
            "--tun=tailscale0",
            "--port=41641",
            "--no-logs-no-support",
        )
        with (state_dir / "tailscaled.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**_ENV, "HOME": str(state_dir)},
                start_new_session=True,
            )
        node = cls(ns, state_dir, tailscale, process, socket_dir)
        try:
            node._wait_started(start_timeout)
        except BaseException:
            node.close()
            raise
        return node

    def _why(self) -> str:
        try:
            return _last_line(self.log_path.read_text(errors="replace")) or f"see {self.log_path}"
        except OSError:
            return f"see {self.log_path}"

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise PeerError(
                    f"tailscaled ({self.name}) exited ({self.process.returncode}): {self._why()}"
                )
            if self.socket.exists():
                done = self._run("status", "--json", timeout=5.0)
                if done.returncode == 0 or b"BackendState" in done.stdout:
                    return
            if time.monotonic() > deadline:
                raise PeerError(
                    f"tailscaled ({self.name}) did not answer on its socket within "
                    f"{timeout:g} s: {self._why()}"
                )
            time.sleep(0.1)

    def close(self) -> None:
        """Kill the process group (SIGTERM, then SIGKILL); remove the socket directory."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        _signal_group(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _run(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
        argv = [str(self.tailscale), f"--socket={self.socket}", *args]
        try:
            return subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env={**_ENV, "HOME": str(self.state_dir)},
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PeerError(
                f"tailscale {args[0]} ({self.name}): no answer within {timeout:g} s"
            ) from None

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT) -> str:
        """``tailscale --socket S ARGS``; its stdout. PeerError with its last line if it fails."""
        done = self._run(*args, timeout=timeout)
        if done.returncode != 0:
            why = _last_line(done.stderr.decode("utf-8", "replace")) or _last_line(
                done.stdout.decode("utf-8", "replace")
            )
            raise PeerError(f"tailscale {args[0]} ({self.name}): {why or 'failed'}")
        return done.stdout.decode("utf-8", "replace")

    def up(
        self,
        *,
        login_server: str,
        auth_key_file: Path,
        hostname: str,
        routes: Sequence[str] = (),
        exit_node: bool = False,
        ssh: bool = False,
        accept_routes: bool = True,
        timeout: float = CLI_TIMEOUT,
    ) -> None:
        """``tailscale up`` with the key from ``auth_key_file``; returns when Running."""
        self.cli(
            "up",
            f"--login-server={login_server}",
            f"--auth-key=file:{auth_key_file}",
            f"--hostname={hostname}",
            f"--advertise-routes={','.join(routes)}",
            f"--advertise-exit-node={str(exit_node).lower()}",
            f"--ssh={str(ssh).lower()}",
            f"--accept-routes={str(accept_routes).lower()}",
            "--accept-dns=false",
            "--netfilter-mode=off",
            f"--timeout={int(timeout)}s",
            timeout=timeout + 5,
        )

    def status(self) -> dict[str, Any]:
        return _json_object(self.cli("status", "--json"), f"tailscale status ({self.name})")

    def netmap(self) -> dict[str, Any]:
        return _json_object(self.cli("debug", "netmap"), f"tailscale debug netmap ({self.name})")

    @property
    def addresses(self) -> tuple[str, ...]:
        """The node's tailnet addresses (IPv4 first)."""
        ips = self.status().get("Self", {}).get("TailscaleIPs") or ()
        return tuple(sorted((str(a) for a in ips), key=lambda a: ":" in a))

    def packet_filter(self) -> list[dict[str, Any]]:
        """The packet filter the control plane sent this node (``PacketFilterRules``)."""
        return list(self.netmap().get("PacketFilterRules") or ())

    def ssh_policy(self) -> dict[str, Any]:
        policy = self.netmap().get("SSHPolicy")
        return dict(policy) if isinstance(policy, dict) else {}


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise PeerError(f"{what}: not JSON: {_last_line(text)}") from None
    if not isinstance(value, dict):
        raise PeerError(f"{what}: not a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    ok: bool
    reason: str
    rtt_ms: float | None = None


class NodeProbes:
    """The probe agent inside one namespace (see :mod:`tailcfg.peers.probeagent`)."""

    def __init__(self, ns: Namespace, proc: asyncio.subprocess.Process) -> None:
        self.ns = ns
        self._proc = proc
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, ns: Namespace) -> NodeProbes:
        argv = ns.argv(sys.executable, "-m", "tailcfg.peers.probeagent")
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        agent = cls(ns, proc)
        agent._waiting[0] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(agent._waiting[0], 10.0)
        except (TimeoutError, PeerError):
            await agent.close()
            raise PeerError(f"the probe agent in {ns.label}'s namespace did not start") from None
        return agent

    async def _read(self) -> None:
        assert self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            answer = json.loads(line)
            future = self._waiting.pop(int(answer.get("id", -1)), None)
            if future is not None and not future.done():
                future.set_result(answer)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PeerError(f"the probe agent in {self.ns.label} exited"))

    async def _ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"id": ident, **request}) + "\n").encode())
        await self._proc.stdin.drain()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise PeerError(f"the probe agent in {self.ns.label} did not answer") from None
        finally:
            self._waiting.pop(ident, None)

    async def listen(self, tcp: Sequence[int], udp: Sequence[int]) -> None:
        answer = await self._ask({"op": "listen", "tcp": list(tcp), "udp": list(udp)}, 10.0)
        if not answer.get("ok"):
            raise PeerError(f"listeners in {self.ns.label}: {answer.get('reason')}")

    async def probe(
        self, address: str, port: int = 0, *, proto: str = "tcp", timeout: float = 1.0
    ) -> ProbeAnswer:
        request = {"op": "probe", "proto": proto, "address": address, "port": port}
        answer = await self._ask({**request, "timeout": timeout}, timeout + 5.0)
        rtt = answer.get("rtt_ms")
        return ProbeAnswer(bool(answer.get("ok")), str(answer.get("reason")), rtt)

    async def ssh(self, address: str, login: str, *, timeout: float = 5.0) -> tuple[str, str]:
        """(outcome, reason): accept / check / deny / error, through real Tailscale SSH."""
        request = {"op": "ssh", "address": address, "login": login, "timeout": timeout}
        answer = await self._ask(request, timeout + 5.0)
        return str(answer.get("outcome")), str(answer.get("reason"))

    async def close(self) -> None:
        if self._proc.returncode is None:
            _signal_group(self._proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                _signal_group(self._proc.pid, signal.SIGKILL)
                await self._proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
