"""The few Headscale admin calls verify makes, and Headscale's nodes as the engine's devices.

REST API v1 (grpc-gateway JSON, camelCase, 64-bit ids as strings): ``GET /api/v1/node``
answers ``{"nodes": [{"id", "name", "givenName", "user": {"name"}, "ipAddresses",
"tags", "availableRoutes", "approvedRoutes", "online", ...}]}``; ``DELETE
/api/v1/node/{id}``; ``POST /api/v1/node/{id}/approve_routes`` with ``{"routes"}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tailcfg.policy.model.nodes import Node
from tailcfg.verify.adminhttp import AdminHttp

_LOGIN = re.compile(r"^([A-Za-z][A-Za-z0-9._-]*@[A-Za-z0-9._-]*)(?::[^:]*)?$")


class HeadscaleAdmin(AdminHttp):
    """Async admin client of one Headscale (bearer API key)."""

    label = "headscale"
    body_limit = 200

    async def nodes(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/api/v1/node")
        return list(data.get("nodes") or ()) if isinstance(data, dict) else []

    async def node_named(self, name: str) -> dict[str, Any] | None:
        return next((n for n in await self.nodes() if node_name(n) == name), None)

    async def delete_node(self, node_id: str) -> None:
        await self._call("DELETE", f"/api/v1/node/{node_id}")

    async def approve_routes(self, node_id: str, routes: Sequence[str]) -> None:
        await self._call(
            "POST", f"/api/v1/node/{node_id}/approve_routes", json={"routes": list(routes)}
        )


def node_name(node: Mapping[str, Any]) -> str:
    return str(node.get("givenName") or node.get("name") or "").split(".")[0]


def node_user(node: Mapping[str, Any]) -> str | None:
    user = node.get("user")
    if not isinstance(user, Mapping):
        return None
    return str(user.get("name") or user.get("email") or "") or None


def to_topology(nodes: Sequence[Mapping[str, Any]]) -> list[Node]:
    """Headscale's nodes as the policy engine's devices (the ``--nodes`` shape)."""
    devices = []
    for n in nodes:
        tags = tuple(n.get("tags") or ())
        addresses = [str(a) for a in n.get("ipAddresses") or ()]
        devices.append(
            Node(
                name=node_name(n),
                ipv4=next((a for a in addresses if ":" not in a), ""),
                ipv6=next((a for a in addresses if ":" in a), ""),
                user=None if tags else node_user(n),
                tags=tags,
                routable_ips=tuple(n.get("availableRoutes") or ()),
                approved_routes=tuple(n.get("approvedRoutes") or ()),
            )
        )
    return devices


def nodes_json(devices: Sequence[Node]) -> list[dict[str, Any]]:
    """The ``--nodes`` file of ``tailcfg policy compile`` for these devices."""
    return [
        {
            "name": d.name,
            "user": d.user,
            "tags": list(d.tags),
            "ipv4": d.ipv4,
            "ipv6": d.ipv6,
            "routable_ips": list(d.routable_ips),
            "approved_routes": list(d.approved_routes),
        }
        for d in devices
    ]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def policy_logins(policy: Mapping[str, Any]) -> list[str]:
    """Every user login the policy names (``odin@example.com``, ``odin@``), in order."""
    found: dict[str, None] = {}
    for text in _strings(policy):
        match = _LOGIN.match(text)
        if match and not text.startswith("autogroup:"):
            found.setdefault(match.group(1), None)
    return list(found)


def headscale_user(login: str) -> str:
    """The Headscale user name for a policy login (``odin@`` names the user ``odin``)."""
    return login[:-1] if login.endswith("@") else login
