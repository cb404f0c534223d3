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
from tailcfg.textfile import read_text


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
        if not isinstance(data, Mapping):
            raise TailcfgError(f"a node is an object with a name, not {json.dumps(data)[:60]}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise TailcfgError(f"node without a name (a string): {json.dumps(data)[:80]}")
        for key in ("tags", "routable_ips", "approved_routes"):
            value = data.get(key)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                raise TailcfgError(f"node {name!r}: {key} is not a list of strings")
        for key in ("user", "user_email", "ipv4", "ipv6", "created", "hostname"):
            value = data.get(key)
            if value is not None and not isinstance(value, str):
                raise TailcfgError(f"node {name!r}: {key} is not a string")
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
    text = read_text(p, "nodes file")
    data: Any
    if p.suffix in (".yaml", ".yml"):
        from ruamel.yaml import YAML
        from ruamel.yaml.error import MarkedYAMLError, YAMLError

        try:
            data = YAML(typ="safe").load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
            raise TailcfgError(f"{where}: YAML: {exc.problem or exc.context}") from None
        except YAMLError as exc:
            raise TailcfgError(f"{p}: YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TailcfgError(f"{p}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if isinstance(data, dict) and "nodes" in data:
        data = data["nodes"]
    if not isinstance(data, list):
        raise TailcfgError(f"{p}: expected a list of nodes")
    try:
        return nodes_from_list(data)
    except TailcfgError as exc:
        raise TailcfgError(f"{p}: {exc}") from None
