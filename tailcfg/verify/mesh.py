"""Start one node per host, approve routes as ``autoApprovers`` says, wait for the mesh.

The mesh is complete when every node knows exactly the peers the policy engine computes
for the registered devices (``compile_policy``), each with an endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tailcfg.inventory import Host
from tailcfg.node.agent import NodeAgent
from tailcfg.policy.compile.engine import Policy, compile_policy
from tailcfg.policy.model.nodes import Node
from tailcfg.verify.adminhttp import AdminHttp
from tailcfg.verify.identity import Member, Names, auto_approved

EXIT_ROUTES = ("0.0.0.0/0", "::/0")


def advertised(host: Host) -> tuple[str, ...]:
    return (*host.routes, *(EXIT_ROUTES if host.exit_node else ()))


def member_of(agent: NodeAgent, routes: Sequence[str] = ()) -> Member:
    user = agent.identity.get("User")
    return Member(
        name=agent.name,
        tags=agent.tags,
        user=None if agent.tags else (str(user) if user else None),
        addresses=agent.addresses,
        routes=tuple(routes),
    )


def declared_member(host: Host) -> Member:
    return Member(host.name, host.tags, None if host.tags else host.user, (), advertised(host))


async def start_node(
    stack: contextlib.AsyncExitStack, url: str, host: Host, auth_key_file: Path, state: Path
) -> NodeAgent:
    """Start a node for ``host``; ``stack`` closes it (also when starting fails)."""
    agent = NodeAgent(
        url,
        auth_key_file=auth_key_file,
        state_dir=state,
        hostname=host.name,
        advertise_routes=advertised(host),
        start_timeout=15.0,
    )
    stack.push_async_callback(agent.close)
    await agent.start()
    return agent


class Api(AdminHttp):
    """The few admin calls verify makes: devices, route approval, deletion (v2 API)."""

    async def devices(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/api/v2/tailnet/-/devices")
        return list(data["devices"])

    async def approve_routes(self, device_id: int, routes: Sequence[str]) -> None:
        await self._call(
            "POST", f"/api/v2/device/{device_id}/routes", json={"routes": list(routes)}
        )

    async def delete_device(self, device_id: int) -> None:
        await self._call("DELETE", f"/api/v2/device/{device_id}")


async def approve(
    api: Api, agents: Mapping[str, NodeAgent], approvers: Mapping[str, Any], names: Names
) -> dict[str, tuple[str, ...]]:
    """Approve each node's advertised routes that ``autoApprovers`` covers; returns them."""
    approved: dict[str, tuple[str, ...]] = {}
    for name, agent in agents.items():
        member = member_of(agent)
        routes = tuple(
            r for r in agent.advertise_routes if auto_approved(approvers, r, member, names)
        )
        if routes:
            await api.approve_routes(int(agent.identity["NodeID"]), routes)
            approved[name] = routes
    return approved


def topology(devices: Sequence[Mapping[str, Any]]) -> list[Node]:
    """The registered devices as the policy engine's nodes."""
    nodes = []
    for d in devices:
        tags = tuple(d.get("tags") or ())
        v4 = next(a for a in d["addresses"] if ":" not in a)
        v6 = next(a for a in d["addresses"] if ":" in a)
        nodes.append(
            Node(
                name=str(d["name"]).split(".")[0],
                ipv4=v4,
                ipv6=v6,
                user=None if tags else str(d.get("user") or "") or None,
                tags=tags,
                routable_ips=tuple(d.get("advertisedRoutes") or ()),
                approved_routes=tuple(d.get("enabledRoutes") or ()),
            )
        )
    return nodes


async def wait_for_mesh(
    agents: Mapping[str, NodeAgent],
    policy: Policy,
    devices: Sequence[Mapping[str, Any]],
    *,
    timeout: float,
) -> list[str]:
    """Wait until every node has its expected peers with endpoints; the laggards otherwise."""
    compiled = compile_policy(policy, topology(devices)).nodes
    expected = {n: frozenset(compiled[n].peers) if n in compiled else frozenset() for n in agents}

    def ready(agent: NodeAgent) -> bool:
        want = expected[agent.name]
        have = {p.name for p in agent.peers.values() if p.endpoints}
        own = set(agent.self_node.get("PrimaryRoutes") or ())
        return have == want and own == set(_approved(devices, agent.name))

    waits = [a.wait_for(ready, timeout) for a in agents.values()]
    results = await asyncio.gather(*waits)
    late = []
    for (name, agent), ok in zip(agents.items(), results, strict=True):
        if not ok:
            have = sorted(p.name for p in agent.peers.values())
            late.append(f"{name} knows peers {have}, expected {sorted(expected[name])}")
    return late


def _approved(devices: Sequence[Mapping[str, Any]], name: str) -> tuple[str, ...]:
    for d in devices:
        if str(d["name"]).split(".")[0] == name:
            return tuple(d.get("enabledRoutes") or ())
    return ()
