"""Running the control server: in the foreground (``serve``) or in a thread (``running_control``).

``running_control`` is for tests and ``tailcfg verify``: uvicorn on a free port of 127.0.0.1
in a background thread, stopped cleanly when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from tailcfg.control.app import create_app, preflight
from tailcfg.control.bootstrap import init_state, is_initialised, read_admin_key
from tailcfg.control.service import Settings
from tailcfg.errors import ControlError

log = logging.getLogger("tailcfg.control")


def _config(app: object, *, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=75,  # longer than clients keep idle pooled connections
        ws="none",
    )


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ControlError(f"--listen {listen!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def serve(
    state_dir: str | Path,
    *,
    listen: str = "127.0.0.1:8080",
    policy_path: str | Path | None = None,
    settings: Settings | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM, then shut down cleanly; returns 0."""
    check_serve(state_dir, listen=listen, policy_path=policy_path)
    host, port = parse_listen(listen)
    app = create_app(state_dir, settings=settings, policy_path=policy_path)
    server = _Server(_config(app, host=host, port=port))
    asyncio.run(_serve_until_signal(server))
    if not server.started:
        raise ControlError(f"control server failed to start on {listen}")
    return 0


def check_serve(
    state_dir: str | Path, *, listen: str, policy_path: str | Path | None = None
) -> None:
    """Everything ``serve`` can refuse before it starts: the listen address (and whether it
    can be bound), the state, the policy; ControlError, positioned, when one is wrong."""
    host, port = parse_listen(listen)
    preflight(state_dir, policy_path)
    _check_port(host, port, listen)


def _check_port(host: str, port: int, listen: str) -> None:
    """ControlError when the address cannot be bound (in use, not local), before uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ControlError(f"--listen {listen}: cannot listen there: {exc.strerror}") from None


class _Server(uvicorn.Server):
    """uvicorn without its signal capture (which re-raises SIGTERM at exit: status -15)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_until_signal(server: uvicorn.Server) -> None:
    """Serve; the first SIGINT/SIGTERM shuts down gracefully, a second one at once."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        await server.serve()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@dataclass(frozen=True, slots=True)
class RunningControl:
    url: str
    admin_key: str
    state_dir: Path


@contextmanager
def running_control(
    state_dir: str | Path,
    policy_path: str | Path | None = None,
    *,
    settings: Settings | None = None,
    admin_login: str = "admin@example.com",
) -> Iterator[RunningControl]:
    """Run a control server in a thread on a free port; initialises ``state_dir`` if needed."""
    state = Path(state_dir)
    if not is_initialised(state):
        init_state(state, admin_login=admin_login)
    app = create_app(state, settings=settings, policy_path=policy_path)
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host="127.0.0.1", port=port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="tailcfg-control", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ControlError("control server failed to start")
            time.sleep(0.01)
        yield RunningControl(f"http://127.0.0.1:{port}", read_admin_key(state), state)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
