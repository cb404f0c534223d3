"""Run a test ASGI app on 127.0.0.1 with real uvicorn in a thread; request helpers for fakes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp


@contextmanager
def serve_app(app: ASGIApp, *, name: str) -> Iterator[str]:
    """Serve ``app`` on a free port for the block's duration; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the OAuth token request), first values."""
    return {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer ...`` header ("" without one)."""
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else ""
