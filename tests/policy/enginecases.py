"""A small fixed tailnet shared by the engine's unit tests (resolve, compile, engine)."""

from __future__ import annotations

from tailcfg.policy.model.nodes import Node, nodes_from_list

NODES: tuple[Node, ...] = nodes_from_list(
    [
        {
            "name": "laptop",
            "user": "odin@example.com",
            "ipv4": "100.64.0.1",
            "ipv6": "fd7a:115c:a1e0::1",
        },
        {
            "name": "phone",
            "user": "odin@example.com",
            "ipv4": "100.64.0.2",
            "ipv6": "fd7a:115c:a1e0::2",
        },
        {
            "name": "tablet",
            "user": "freya@example.com",
            "ipv4": "100.64.0.3",
            "ipv6": "fd7a:115c:a1e0::3",
        },
        {"name": "web", "tags": ["tag:web"], "ipv4": "100.64.0.10", "ipv6": "fd7a:115c:a1e0::a"},
        {
            "name": "db",
            "tags": ["tag:db", "tag:web"],
            "ipv4": "100.64.0.11",
            "ipv6": "fd7a:115c:a1e0::b",
        },
        {
            "name": "router",
            "tags": ["tag:router"],
            "ipv4": "100.64.0.20",
            "ipv6": "fd7a:115c:a1e0::14",
            "routable_ips": ["10.1.0.0/16"],
            "approved_routes": ["10.1.0.0/16"],
        },
        {
            "name": "exit",
            "tags": ["tag:exit"],
            "ipv4": "100.64.0.30",
            "ipv6": "fd7a:115c:a1e0::1e",
            "routable_ips": ["0.0.0.0/0", "::/0"],
        },
    ]
)

USERS = ("odin@example.com", "freya@example.com")

TAG_OWNERS = {
    "tag:web": ["odin@example.com"],
    "tag:db": ["odin@example.com"],
    "tag:router": ["odin@example.com"],
    "tag:exit": ["odin@example.com"],
}

BASE = {
    "groups": {
        "group:admins": ["odin@example.com"],
        "group:all": ["odin@example.com", "freya@example.com"],
    },
    "hosts": {"lan": "10.1.2.0/24", "box": "100.64.0.10"},
    "tagOwners": TAG_OWNERS,
    "autoApprovers": {"exitNode": ["tag:exit"]},
}

ALL = {"First": 0, "Last": 65535}
WILDCARD_SRC = ["100.64.0.0-100.115.91.255", "100.115.94.0-100.127.255.255", "fd7a:115c:a1e0::/48"]


def ports(first: int, last: int | None = None) -> dict[str, int]:
    return {"First": first, "Last": first if last is None else last}
