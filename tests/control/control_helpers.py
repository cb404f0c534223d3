"""Helpers of the control plane tests: keys, API clients, the in-process app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from nacl.public import PrivateKey
from starlette.applications import Starlette

from tailcfg.control import keys
from tailcfg.control.app import create_app
from tailcfg.control.bootstrap import read_admin_key
from tailcfg.control.client import ControlClient
from tailcfg.control.server import RunningControl

T = TypeVar("T")
ADMIN = "odin@example.com"
POLICY = """// test policy
{
\t"groups": {"group:admins": ["odin@example.com"]},
\t"tagOwners": {"tag:server": ["group:admins"], "tag:ci": ["group:admins"]},
\t"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
}
"""


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def node_key() -> str:
    return keys.public_text(PrivateKey.generate().public_key, keys.NODE_PREFIX)


def api(ctl: RunningControl) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=ctl.url, headers={"Authorization": f"Bearer {ctl.admin_key}"}, timeout=30
    )


async def mint(client: httpx.AsyncClient, **create: Any) -> str:
    body: dict[str, Any] = {"capabilities": {"devices": {"create": create}}}
    response = await client.post("/api/v2/tailnet/-/keys", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


@contextlib.asynccontextmanager
async def asgi_control(
    state_dir: Path, policy_file: Path | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    """The app in-process (httpx.ASGITransport), lifespan run by hand, admin auth preset."""
    app = create_app(state_dir, policy_path=policy_file)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {read_admin_key(state_dir)}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://control", headers=headers
        ) as client:
            yield client, app


class Member:
    """A registered test device with its map stream collected in the background."""

    def __init__(
        self, url: str, name: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.name = name
        self.client = ControlClient(url, PrivateKey.generate(), transport=transport)
        self.node_key = node_key()
        self.identity: dict[str, Any] = {}
        self.error: Exception | None = None
        self.messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def id(self) -> int:
        return int(self.identity["NodeID"])

    async def join(self, auth_key: str, **kw: Any) -> dict[str, Any]:
        self.identity = await self.client.register(
            self.node_key, auth_key=auth_key, hostname=self.name, **kw
        )
        return self.identity

    async def start(self) -> dict[str, Any]:
        """Open the map stream; returns the full map."""
        self._task = asyncio.create_task(self._pump())
        first = await self.next()
        assert first is not None and "Peers" in first
        return first

    async def _pump(self) -> None:
        try:
            async for message in self.client.stream_map(self.node_key):
                if not message.get("KeepAlive"):
                    await self.messages.put(message)
        except httpx.TransportError as exc:  # the server went away
            self.error = exc
        finally:
            await self.messages.put(None)

    async def next(self, timeout: float = 15.0) -> dict[str, Any] | None:
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def wait_for(self, key: str, timeout: float = 15.0) -> dict[str, Any]:
        """The next message carrying ``key`` (earlier ones are skipped)."""
        while True:
            message = await self.next(timeout)
            assert message is not None, f"{self.name}: stream ended waiting for {key}"
            if key in message:
                return message

    async def wait_until(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 15.0
    ) -> dict[str, Any]:
        """The next message for which ``check`` holds (earlier ones are skipped)."""
        while True:
            message = await self.next(timeout)
            assert message is not None, f"{self.name}: stream ended"
            if check(message):
                return message

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()
