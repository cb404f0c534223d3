"""Real tailscaled nodes for verify: start one per host, wait for the mesh, warm the paths.

Each host gets a namespace on the LAN (holding the policy's addresses behind its routes on
its loopback interface, and an ``/etc/passwd`` with the SSH test logins), a tailscaled, and
``tailscale up`` with its decrypted key. The mesh is ready when every node lists exactly
the peers the engine computes for Headscale's node list, and sees each peer's approved
subnet routes. Warming: ``tailscale ping`` (disco) on every pair, so that the direct paths
exist before the probes that count (a packet filter drops packets, never disco); then a
TSMP ping from one side of every pair, so that each WireGuard session is opened once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tailcfg.errors import PeerError, TailcfgError
from tailcfg.inventory import Host
from tailcfg.peers.netns import Lan, Namespace
from tailcfg.peers.tailscaled import Tailscaled
from tailcfg.policy.compile.engine import Policy, compile_policy
from tailcfg.policy.model.nodes import Node
from tailcfg.verify.mesh import EXIT_ROUTES, advertised


@dataclass(frozen=True, slots=True)
class NodeSpec:
    host: Host
    key_file: Path
    local_addresses: tuple[str, ...]  # addresses behind its routes that it holds itself
    passwd: tuple[str, str]  # /etc/passwd, /etc/group inside its namespace


def prepare(lan: Lan, spec: NodeSpec) -> Namespace:
    ns = lan.namespace(spec.host.name)
    for address in spec.local_addresses:
        ns.add_local_address(address)
    ns.etc_file("passwd", spec.passwd[0])
    ns.etc_file("group", spec.passwd[1])
    return ns


def start_and_join(
    ns: Namespace,
    spec: NodeSpec,
    *,
    state: Path,
    tailscaled: Path,
    tailscale: Path,
    login_server: str,
    started: list[Tailscaled],
) -> float:
    """Start tailscaled, ``tailscale up``; seconds it took. ``started`` gets the node at once
    (so that the caller stops it even when joining fails)."""
    t0 = time.monotonic()
    node = Tailscaled.start(ns, state, tailscaled=tailscaled, tailscale=tailscale)
    started.append(node)
    host = spec.host
    node.up(
        login_server=login_server,
        auth_key_file=spec.key_file,
        hostname=host.name,
        routes=host.routes,
        exit_node=host.exit_node,
        ssh=host.ssh,
    )
    return time.monotonic() - t0


def _peer_names(status: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    peers = status.get("Peer") or {}
    named = {}
    if isinstance(peers, Mapping):
        for peer in peers.values():
            if isinstance(peer, Mapping):
                name = str(peer.get("DNSName") or peer.get("HostName") or "").split(".")[0]
                named[name] = peer
    return named


async def wait_for_mesh(
    nodes: Mapping[str, Tailscaled],
    policy: Policy,
    topology: Sequence[Node],
    *,
    route_needs: Mapping[str, set[str]],
    timeout: float,
) -> list[str]:
    """Wait until every node has its expected peers, and sees the approved routes of the
    routers its tests go through (``route_needs``: node -> routers); the laggards."""
    compiled = compile_policy(policy, topology).nodes
    routes = {d.name: {r for r in d.approved_routes if r not in EXIT_ROUTES} for d in topology}
    deadline = time.monotonic() + timeout
    late: dict[str, str] = {}
    while True:
        late.clear()
        for name, node in nodes.items():
            want = set(compiled[name].peers) if name in compiled else set()
            try:
                have = _peer_names(await asyncio.to_thread(node.status))
            except TailcfgError as exc:
                late[name] = str(exc)
                continue
            if set(have) != want:
                late[name] = f"{name} knows peers {sorted(have)}, expected {sorted(want)}"
                continue
            for peer in route_needs.get(name, ()):
                info = have.get(peer) or {}
                primary = set(info.get("PrimaryRoutes") or ())  # type: ignore[call-overload]
                if not routes.get(peer, set()) <= primary:
                    late[name] = f"{name} does not see {peer}'s routes {sorted(routes[peer])} yet"
        if not late or time.monotonic() > deadline:
            return list(late.values())
        await asyncio.sleep(0.25)


async def _ping_pairs(
    nodes: Mapping[str, Tailscaled],
    addresses: Mapping[str, str],
    argv: Sequence[str],
    answered: Callable[[str], bool],
    *,
    one_side: bool,
    timeout: float,
) -> tuple[float, list[str]]:
    """``tailscale ping ARGV ADDRESS`` from every node to every peer it knows (only from
    the first by name of each pair when ``one_side``), repeated until ``answered(stdout)``;
    the ms it took and the pairs that never answered."""
    started = time.monotonic()

    def ping(node: Tailscaled, peer: str) -> str | None:
        why = "no answer"
        while time.monotonic() - started < timeout:
            try:
                out = node.cli("ping", *argv, addresses[peer], timeout=10)
            except PeerError as exc:
                why = str(exc)
                time.sleep(0.2)
                continue
            if answered(out):
                return None
            why = out.strip().splitlines()[-1] if out.strip() else why
        return f"{node.name} -> {peer}: {why}"

    jobs = []
    for name, node in sorted(nodes.items()):
        status = await asyncio.to_thread(node.status)
        for peer in _peer_names(status):
            if peer in addresses and peer != name and not (one_side and peer < name):
                jobs.append(asyncio.to_thread(ping, node, peer))
    failures = [f for f in await asyncio.gather(*jobs) if f is not None]
    return (time.monotonic() - started) * 1000, failures


async def warm_paths(
    nodes: Mapping[str, Tailscaled], addresses: Mapping[str, str], *, timeout: float = 10.0
) -> tuple[float, list[str]]:
    """``tailscale ping`` (disco) from every node to every peer it knows, until each answers
    over a direct path; the ms it took and the pairs that never answered."""
    return await _ping_pairs(
        nodes,
        addresses,
        ("--c", "5", "--timeout", "500ms"),
        lambda out: "pong from" in out and " via " in out,
        one_side=False,
        timeout=timeout,
    )


async def open_sessions(
    nodes: Mapping[str, Tailscaled], addresses: Mapping[str, str], *, timeout: float = 10.0
) -> tuple[float, list[str]]:
    """A WireGuard session on every pair of peers, opened from one side only: the first
    node by name sends a TSMP ping (through WireGuard, answered whatever the packet filter
    says) until it is answered; the ms it took and the pairs that never answered.

    When two tailscaled nodes start a handshake to each other at the same moment (the
    first probes go both ways at once), each consumes the other's initiation, drops its
    own, and rejects the response it then receives; both retry 5 s later, in step, and
    the same happens again. Opening each session from one side first avoids the race.
    """
    return await _ping_pairs(
        nodes,
        addresses,
        ("--tsmp", "--c", "1", "--timeout", "2s"),
        lambda out: "pong from" in out,
        one_side=True,
        timeout=timeout,
    )


def expected_routes(host: Host) -> tuple[str, ...]:
    return advertised(host)
