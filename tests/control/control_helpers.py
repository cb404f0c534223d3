"""Helpers of the control plane tests: keys, API clients, the in-process app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from nacl.public import PrivateKey
from starlette.applications import Starlette

from tailcfg.control import keys
from tailcfg.control.app import create_app
from tailcfg.control.bootstrap import read_admin_key
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
