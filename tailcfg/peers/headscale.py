"""A real ``headscale serve`` on loopback ports, for tests and ``verify --control headscale``.

::

    from tailcfg.peers.binaries import locate
    from tailcfg.peers.headscale import HeadscaleServer

    binary = locate("headscale", peers_dir)          # PeerError when missing / wrong version
    with HeadscaleServer.start(state_dir, binary=binary) as hs:
        hs.url           # "http://127.0.0.1:PORT": server_url, REST API (/api/v1), /health
        hs.api_key       # an API key made at start (Bearer token of the REST API)
        hs.config_path   # the generated config.yaml (``headscale -c PATH ...``)
        hs.create_user("odin", email="odin@example.com")   # -> 1 (the user's id)
        hs.create_api_key()      # -> another API key
        hs.cli("nodes", "list")  # -> the CLI's JSON answer (``-o json``), decoded
    # stopped: the process group is killed, nothing keeps running

``state_dir`` holds everything the server writes: ``config.yaml``, the SQLite database, the
noise private key, a DERP map and ``headscale.log``. Settings: ``policy.mode: database`` (the
policy lives in the database, set through the API), no OIDC, no update check, no embedded
DERP server and no DERP map download; the DERP map is a file with one region (999, node
``127.0.0.1``, ``derp_port``), or ``derp_map`` (YAML text) when the caller has a real DERP.
Every port is a free 127.0.0.1 port unless given (``listen_host``: the HTTP API's and
server_url's address instead of 127.0.0.1); a port in use is a :class:`PeerError`
naming it. The CLI talks to the server through a unix socket in a short temporary
directory (socket paths are limited to 107 bytes), removed at stop.

Errors are :class:`PeerError` with one line: the binary missing, headscale refusing its
config or exiting (its own last error line), a port taken, not healthy within
``start_timeout``, a CLI call failing. The API key is a secret: it is kept out of ``repr``
and never passed in argv (the CLI prints it, we read it from its stdout).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tailcfg.closing import Closing
from tailcfg.errors import PeerError, PortTakenError

START_TIMEOUT = 30.0  # seconds for headscale to answer /health
CLI_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
_CHILD_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Ports:
    http: int  # on the listen host
    grpc: int  # on 127.0.0.1, as the metrics
    metrics: int
    host: str = "127.0.0.1"  # where server_url points and the HTTP API listens

    @classmethod
    def pick(cls, http: int | None = None, host: str = "127.0.0.1") -> Ports:
        return cls(http or free_port(host), free_port(), free_port(), host)


def derp_map_yaml(port: int) -> str:
    """A DERP map of one region on 127.0.0.1 (headscale refuses to start with none)."""
    return (
        "regions:\n"
        "  999:\n"
        "    regionid: 999\n"
        "    regioncode: local\n"
        "    regionname: tailcfg loopback\n"
        "    nodes:\n"
        "      - name: 999a\n"
        "        regionid: 999\n"
        "        hostname: 127.0.0.1\n"
        "        ipv4: 127.0.0.1\n"
        "        stunport: -1\n"
        f"        derpport: {port}\n"
    )


def config_yaml(
    state_dir: Path, socket_path: Path, ports: Ports, *, derp_path: Path, log_level: str
) -> str:
    """headscale's config for a loopback server keeping all its state in ``state_dir``."""
    config = {
        "server_url": f"http://{ports.host}:{ports.http}",
        "listen_addr": f"{ports.host}:{ports.http}",
        "metrics_listen_addr": f"127.0.0.1:{ports.metrics}",
        "grpc_listen_addr": f"127.0.0.1:{ports.grpc}",
        "grpc_allow_insecure": False,
        "noise": {"private_key_path": str(state_dir / "noise_private.key")},
        "prefixes": {
            "v4": "100.64.0.0/10",
            "v6": "fd7a:115c:a1e0::/48",
            "allocation": "sequential",
        },
        "derp": {
            "server": {"enabled": False},
            "urls": [],
            "paths": [str(derp_path)],
            "auto_update_enabled": False,
            "update_frequency": "24h",
        },
        "disable_check_updates": True,
        "node": {"expiry": 0, "ephemeral": {"inactivity_timeout": "30m"}},
        "database": {
            "type": "sqlite",
            "sqlite": {"path": str(state_dir / "db.sqlite"), "write_ahead_log": True},
        },
        "log": {"format": "text", "level": log_level},
        "policy": {"mode": "database", "path": ""},
        "dns": {
            "magic_dns": True,
            "base_domain": "tailnet.test",
            "override_local_dns": False,
            "nameservers": {"global": []},
        },
        "unix_socket": str(socket_path),
        "unix_socket_permission": "0770",
        "logtail": {"enabled": False},
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML; headscale reads it as YAML


@dataclass
class HeadscaleServer(Closing):
    """A running ``headscale serve`` (see the module docstring); a context manager."""

    binary: Path
    state_dir: Path
    config_path: Path
    ports: Ports
    process: subprocess.Popen[bytes] = field(repr=False)
    api_key: str = field(default="", repr=False)
    _socket_dir: Path | None = field(default=None, repr=False)
    _log_offset: int = field(default=0, repr=False)  # where this run's log starts

    @property
    def url(self) -> str:
        return f"http://{self.ports.host}:{self.ports.http}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "headscale.log"

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        binary: Path,
        port: int | None = None,
        listen_host: str = "127.0.0.1",
        derp_map: str | None = None,
        derp_port: int = 3340,
        log_level: str = "info",
        start_timeout: float = START_TIMEOUT,
    ) -> HeadscaleServer:
        """Write the config into ``state_dir``, start headscale, wait for /health, make an
        API key. ``port``: the HTTP port (default: a free one); ``listen_host``: the address
        of the HTTP API and server_url (another than loopback, e.g. a bridge's, to serve
        nodes in network namespaces)."""
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise PeerError(f"headscale not found at {binary}: run scripts/build-peers")
        if port is not None and port_in_use(port, listen_host):
            raise PortTakenError(f"headscale: port {listen_host}:{port} is taken")
        state_dir = state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        derp_path = state_dir / "derp.yaml"
        derp_path.write_text(derp_map if derp_map is not None else derp_map_yaml(derp_port))
        attempts = 1 if port is not None else 3  # a free port may be taken before headscale
        for attempt in range(attempts):
            ports = Ports.pick(port, listen_host)
            try:
                return cls._launch(
                    binary.resolve(), state_dir, ports, derp_path, log_level, start_timeout
                )
            except PortTakenError:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @classmethod
    def _launch(
        cls,
        binary: Path,
        state_dir: Path,
        ports: Ports,
        derp_path: Path,
        log_level: str,
        start_timeout: float,
    ) -> HeadscaleServer:
        socket_dir = Path(tempfile.mkdtemp(prefix="hs-"))
        try:
            config_path = state_dir / "config.yaml"
            text = config_yaml(
                state_dir,
                socket_dir / "headscale.sock",
                ports,
                derp_path=derp_path,
                log_level=log_level,
            )
            config_path.write_text(text)
            log_path = state_dir / "headscale.log"
            with log_path.open("ab") as log:
                offset = log.tell()
                process = subprocess.Popen(
                    [str(binary), "-c", str(config_path), "serve"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=state_dir,
                    env={**_CHILD_ENV, "HOME": str(state_dir)},
                    start_new_session=True,  # its own process group, killed as one at stop
                )
        except BaseException:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
        server = cls(binary, state_dir, config_path, ports, process, _socket_dir=socket_dir)
        server._log_offset = offset
        atexit.register(server.close)  # the interpreter's exit stops it too (nothing left)
        try:
            server._wait_healthy(start_timeout)
            server.api_key = server.create_api_key()
        except BaseException:
            server.close()
            raise
        return server

    def close(self) -> None:
        """Kill the process group (SIGTERM, then SIGKILL) and remove the socket directory."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        _signal_group(self.process.pid, signal.SIGKILL)  # stragglers of the group
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        atexit.unregister(self.close)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    taken = self._port_taken()
                    if taken:
                        raise PortTakenError(f"headscale: port {taken} is taken")
                    raise PeerError(f"headscale exited ({self.process.returncode}): {self._why()}")
                try:
                    if client.get("/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise PeerError(
                        f"headscale did not answer {self.url}/health within {timeout:g} s:"
                        f" {self._why()}"
                    )
                time.sleep(0.1)

    def _why(self) -> str:
        """The log's last error line (one line), or a pointer to the log."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                lines = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        return last_error(lines) or f"see {self.log_path}"

    def _port_taken(self) -> str | None:
        """The address headscale could not bind in this run, if that is why it exited."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                taken = _IN_USE.search(log.read().decode("utf-8", "replace"))
        except OSError:
            return None
        return taken.group(1) if taken else None

    def cli(self, *args: str) -> Any:
        """Run ``headscale -c CONFIG ARGS... -o json``; its decoded JSON answer."""
        argv = [str(self.binary), "-c", str(self.config_path), *args, "-o", "json"]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd=self.state_dir,
                env={**_CHILD_ENV, "HOME": str(self.state_dir)},
                timeout=CLI_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PeerError(f"headscale {' '.join(args)}: no answer in {CLI_TIMEOUT:g} s") from None
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        try:
            answer = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            answer = None
        if done.returncode != 0 or answer is None:
            reason = _cli_error(answer) or last_error((err + "\n" + out).splitlines())
            raise PeerError(f"headscale {' '.join(args)}: {reason or 'failed'}")
        return answer

    def create_user(self, name: str, *, email: str = "", display_name: str = "") -> int:
        """Create the user ``name``; its numeric id. Headscale's policy finds a user by its
        name (``odin@``) or email (``odin@example.com``)."""
        extra = [
            *(("--email", email) if email else ()),
            *(("-d", display_name) if display_name else ()),
        ]
        answer = self.cli("users", "create", name, *extra)
        user_id = answer.get("id") if isinstance(answer, dict) else None
        if isinstance(user_id, str) and user_id.isdigit():
            user_id = int(user_id)
        if not isinstance(user_id, int):
            raise PeerError(f"headscale users create {name}: answer without an id")
        return user_id

    def create_api_key(self, *, expiration: str = "1d") -> str:
        """A new API key (a bearer token of the REST API), valid for ``expiration``."""
        answer = self.cli("apikeys", "create", "--expiration", expiration)
        if not isinstance(answer, str) or not answer:
            raise PeerError("headscale apikeys create: answer without a key")
        return answer


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _cli_error(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), str):
        return str(answer["error"])
    return ""


_IN_USE = re.compile(r"listen tcp ([\d.:]+): bind: address already in use")
_ERROR_LINE = re.compile(r"\b(ERR|FTL|FATAL|ERROR|error|fatal|panic)\b")


def last_error(lines: list[str]) -> str:
    """The last line that reads like an error, else the last non-empty line ("" if none)."""
    kept = [line.strip() for line in lines if line.strip()]
    for line in reversed(kept):
        if _ERROR_LINE.search(line):
            return line[:400]
    return kept[-1][:400] if kept else ""
