"""Helpers of the console tests: a policy, an in-process app, registered devices."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from nacl.public import PrivateKey

from tailcfg.control import keys
from tailcfg.control.app import create_app
from tailcfg.control.bootstrap import read_admin_key
from tailcfg.control.client import ControlClient

ADMIN = "odin@example.com"
POLICY = """// console test policy
{
\t"groups": {"group:admins": ["odin@example.com"]},
\t"tagOwners": {"tag:server": ["group:admins"], "tag:ci": ["group:admins"]},
\t"grants": [
\t\t{"src": ["group:admins"], "dst": ["tag:server"], "ip": ["tcp:22", "tcp:443"]},
\t\t{"src": ["tag:ci"], "dst": ["tag:server"], "ip": ["tcp:443"]},
\t],
\t"ssh": [
\t\t{"action": "accept", "src": ["group:admins"], "dst": ["tag:server"], "users": ["root"]},
\t],
\t"tests": [
\t\t{"src": "odin@example.com", "accept": ["tag:server:22"], "deny": ["tag:ci:22"]},
\t],
}
"""


def api_headers(state: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {read_admin_key(state)}"}


async def mint(client: httpx.AsyncClient, state: Path, **create: Any) -> str:
    body: dict[str, Any] = {"capabilities": {"devices": {"create": create}}}
    response = await client.post("/api/v2/tailnet/-/keys", json=body, headers=api_headers(state))
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


async def register(
    url: str,
    auth_key: str,
    hostname: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> dict[str, Any]:
    node_key = keys.public_text(PrivateKey.generate().public_key, keys.NODE_PREFIX)
    async with ControlClient(url, PrivateKey.generate(), transport=transport) as client:
        return await client.register(node_key, auth_key=auth_key, hostname=hostname)


@contextlib.asynccontextmanager
async def asgi_console(
    state: Path, policy_file: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.ASGITransport]]:
    """The control app in-process (lifespan run by hand), a client without credentials."""
    app = create_app(state, policy_path=policy_file)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://control") as client:
            yield client, transport
