"""Wire shapes of the netmap, after Tailscale's ``tailcfg.MapResponse`` and ``tailcfg.Node``.

A full map carries ``Node`` (self), ``Peers``, ``PacketFilter``, ``SSHPolicy``, ``DNSConfig``
and ``Domain``; an incremental one any of ``Node``, ``PeersChanged`` (new or changed peers,
whole), ``PeersRemoved`` (node IDs), ``PacketFilter``, ``SSHPolicy``; a keep-alive is
``{"KeepAlive": true}``. Pure functions: no I/O, no state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tailcfg.control.addresses import fqdn
from tailcfg.control.model import Device, User, iso
from tailcfg.policy.model.nodes import Node

ZERO_TIME = "0001-01-01T00:00:00Z"


def policy_node(device: Device, users: Mapping[int, User]) -> Node:
    """The device as the policy engine sees it (tagged devices have no user)."""
    owner = users.get(device.user_id)
    return Node(
        name=device.given_name,
        ipv4=device.ipv4,
        ipv6=device.ipv6,
        user=None if device.tags or owner is None else owner.login,
        tags=device.tags,
        routable_ips=device.routable_ips,
        approved_routes=device.approved_routes,
        created=iso(device.created) or "",
        hostname=device.hostname,
    )


def node_wire(device: Device, *, domain: str, now_expired: bool = False) -> dict[str, Any]:
    """One ``tailcfg.Node``: what a peer needs to build a WireGuard peer and a route."""
    addresses = [f"{device.ipv4}/32", f"{device.ipv6}/128"]
    return {
        "ID": device.id,
        "StableID": device.stable_id,
        "Name": fqdn(device.given_name, domain),
        "User": device.user_id,
        "Key": device.node_key,
        "KeyExpiry": iso(device.key_expiry) or ZERO_TIME,
        "Machine": device.machine_key,
        "Addresses": addresses,
        "AllowedIPs": addresses + list(device.approved_routes),
        "PrimaryRoutes": list(device.approved_routes),
        "Endpoints": list(device.endpoints),
        "Hostinfo": {"Hostname": device.hostname, "RoutableIPs": list(device.routable_ips)},
        "Created": iso(device.created),
        "Tags": list(device.tags),
        "MachineAuthorized": device.authorized,
        "Expired": now_expired,
    }


def dns_config(domain: str) -> dict[str, Any]:
    return {"Domains": [domain], "Proxied": True, "Resolvers": [], "Routes": {}}


def encode(message: Any) -> bytes:
    """Compact JSON bytes, the form every message is sealed in."""
    return json.dumps(message, separators=(",", ":")).encode()


def full_map(
    self_node: dict[str, Any],
    peers: Sequence[bytes],
    *,
    packet_filter: list[dict[str, Any]],
    ssh_policy: dict[str, Any],
    domain: str,
    users: Iterable[User],
) -> bytes:
    """The full map as JSON bytes; ``peers`` are already-encoded peer nodes (cached)."""
    head = {
        "Node": self_node,
        "PacketFilter": packet_filter,
        "SSHPolicy": ssh_policy,
        "DNSConfig": dns_config(domain),
        "Domain": domain,
        "UserProfiles": [
            {"ID": u.id, "LoginName": u.login, "DisplayName": u.display_name} for u in users
        ],
    }
    return b"".join((encode(head)[:-1], b',"Peers":[', b",".join(peers), b"]}"))


KEEPALIVE: dict[str, Any] = {"KeepAlive": True}
