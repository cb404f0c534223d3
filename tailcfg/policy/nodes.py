"""Devices of a tailnet as the policy engine sees them (the ``--nodes`` file).

The shape is the conformance captures' ``nodes``: name, user (owner login, untagged
devices only), tags, ipv4, ipv6, routable_ips (advertised), approved_routes, created.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailcfg.errors import TailcfgError


@dataclass(frozen=True, slots=True)
class Node:
    """One device. Tagged devices belong to their tags and have no user."""

    name: str
    ipv4: str
    ipv6: str
    user: str | None = None
    tags: tuple[str, ...] = ()
    routable_ips: tuple[str, ...] = ()
    approved_routes: tuple[str, ...] = ()
    created: str = ""
    hostname: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_tagged(self) -> bool:
        return bool(self.tags)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Node:
        """Build a node from a mapping; ``user_email`` wins over ``user`` as the login."""
        try:
            name = str(data["name"])
        except KeyError:
            raise TailcfgError("node without a name") from None
        tags = tuple(str(t) for t in data.get("tags") or ())
        user = data.get("user_email") or data.get("user")
        if tags:
            user = None
        for key in ("ipv4", "ipv6"):
            addr = data.get(key)
            if addr:
                try:
                    ipaddress.ip_address(str(addr))
                except ValueError:
                    raise TailcfgError(f"node {name!r}: {key} {addr!r} is not an IP") from None
        return cls(
            name=name,
            ipv4=str(data.get("ipv4") or ""),
            ipv6=str(data.get("ipv6") or ""),
            user=str(user) if user else None,
            tags=tags,
            routable_ips=tuple(str(r) for r in data.get("routable_ips") or ()),
            approved_routes=tuple(str(r) for r in data.get("approved_routes") or ()),
            created=str(data.get("created") or ""),
            hostname=str(data.get("hostname") or name),
        )


def nodes_from_list(items: Iterable[Mapping[str, Any]]) -> tuple[Node, ...]:
    nodes = tuple(Node.from_dict(item) for item in items)
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen:
            raise TailcfgError(f"duplicate node name {node.name!r}")
        seen.add(node.name)
    return nodes


def load_nodes(path: str | Path) -> tuple[Node, ...]:
    """Read a ``--nodes`` file: JSON or YAML, a list of devices (or ``{"nodes": [...]}``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TailcfgError(f"{p}: cannot read nodes file: {exc.strerror}") from None
    data: Any
    if p.suffix in (".yaml", ".yml"):
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TailcfgError(f"{p}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if isinstance(data, dict) and "nodes" in data:
        data = data["nodes"]
    if not isinstance(data, list):
        raise TailcfgError(f"{p}: expected a list of nodes")
    return nodes_from_list(data)
