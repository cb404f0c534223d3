"""Devices of a tailnet as the policy engine sees them (the ``--nodes`` file).

The shape is the conformance captures' ``nodes``: name, user (owner login, untagged
devices only), tags, ipv4, ipv6, routable_ips (advertised), approved_routes, created.
Two additions the captures do not need:

- ``roles``: the roles of the device's user (``admin``, ``owner``, ``it-admin``,
  ``network-admin``, ``billing-admin``, ``auditor``; ``autogroup:admin`` spellings too),
  which the role autogroups select by. The Owner counts as an Admin.
- Tailscale Services: the file may be ``{"nodes": [...], "services": [{"name": "svc:web",
  "addrs": ["100.100.5.7", "fd7a:115c:a1e0::57"], "hosts": ["dao"]}]}``. Each host
  serves the service's virtual addresses: they are added to its advertised and approved
  routes (as the server hands them out in AllowedIPs), and rules whose destination is the
  service reach the hosts at those addresses.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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
    roles: tuple[str, ...] = ()
    service_vips: tuple[tuple[str, str], ...] = ()  # (svc:name, virtual address) it hosts
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
            roles=() if tags else _roles(name, data.get("roles")),
        )

    def with_service(self, name: str, vips: Iterable[str]) -> Node:
        """This device hosting service ``name`` at ``vips`` (routes for each address)."""
        vips = tuple(vips)
        prefixes = tuple(f"{a}/{32 if ':' not in a else 128}" for a in vips)
        return replace(
            self,
            service_vips=(*self.service_vips, *((name, a) for a in vips)),
            routable_ips=(*self.routable_ips, *(p for p in prefixes if p not in self.routable_ips)),
            approved_routes=(
                *self.approved_routes,
                *(p for p in prefixes if p not in self.approved_routes),
            ),
        )


ROLES = frozenset(
    {"owner", "admin", "it-admin", "network-admin", "billing-admin", "auditor", "member"}
)


def _roles(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise TailcfgError(f"node {name!r}: roles must be a list of role names")
    out: list[str] = []
    for item in value:
        role = str(item).strip().lower().removeprefix("autogroup:")
        if role not in ROLES:
            known = ", ".join(sorted(ROLES))
            raise TailcfgError(f"node {name!r}: unknown role {item!r} (known: {known})")
        out.append(role)
    return tuple(dict.fromkeys(out))


def _services(nodes: tuple[Node, ...], services: Any) -> tuple[Node, ...]:
    """Hand each service's virtual addresses to its hosts."""
    if services is None:
        return nodes
    if not isinstance(services, list):
        raise TailcfgError("services must be a list of {name, addrs, hosts}")
    by_name = {n.name: n for n in nodes}
    for entry in services:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise TailcfgError("every service needs a name (svc:NAME)")
        name = entry["name"]
        if not name.startswith("svc:"):
            raise TailcfgError(f"service {name!r}: a service name starts with 'svc:'")
        vips = [str(a) for a in entry.get("addrs") or ()]
        for a in vips:
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise TailcfgError(f"service {name!r}: {a!r} is not an IP address") from None
        for host in entry.get("hosts") or ():
            if host not in by_name:
                raise TailcfgError(f"service {name!r}: host {host!r} is not a node")
            by_name[host] = by_name[host].with_service(name, vips)
    return tuple(by_name[n.name] for n in nodes)


def nodes_from_list(items: Iterable[Mapping[str, Any]], services: Any = None) -> tuple[Node, ...]:
    """Nodes of a devices list, each service's hosts given its virtual addresses."""
    nodes = tuple(Node.from_dict(item) for item in items)
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen:
            raise TailcfgError(f"duplicate node name {node.name!r}")
        seen.add(node.name)
    return _services(nodes, services)


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
    services = None
    if isinstance(data, dict) and "nodes" in data:
        services = data.get("services")
        data = data["nodes"]
    if not isinstance(data, list):
        raise TailcfgError(f"{p}: expected a list of nodes")
    try:
        return nodes_from_list(data, services)
    except TailcfgError as exc:
        raise TailcfgError(f"{p}: {exc}") from None
