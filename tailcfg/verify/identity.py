"""Who is who on the running mesh: policy aliases → devices, destinations → owners.

A :class:`Member` is a device as verify sees it (its tags, its owner's login, its
addresses and approved routes) or, for what the inventory promises, a host as declared.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    tags: tuple[str, ...]
    user: str | None  # owner's login (untagged devices only)
    addresses: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()  # approved routes (subnet router / exit node)

    @property
    def ipv4(self) -> str | None:
        return next((a for a in self.addresses if ":" not in a), None)


@dataclass(frozen=True, slots=True)
class Names:
    """The policy's groups and hosts (raw values of the policy file)."""

    groups: Mapping[str, Sequence[str]]
    hosts: Mapping[str, str]

    @classmethod
    def from_policy(cls, value: Mapping[str, Any]) -> Names:
        groups = {str(k): [str(m) for m in v or ()] for k, v in (value.get("groups") or {}).items()}
        hosts = {str(k): str(v) for k, v in (value.get("hosts") or {}).items()}
        return cls(groups, hosts)

    def address_of(self, alias: str) -> str | None:
        """A single-host destination's address (IP literal or hosts alias), else None."""
        text = self.hosts.get(alias, alias).strip("[]")
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        if net.num_addresses != 1:
            return None
        return str(net.network_address)


def matches(alias: str, member: Member, names: Names) -> bool:
    """Whether ``member`` has the identity ``alias`` (a test's ``src``)."""
    if alias in ("*", "autogroup:danger-all"):
        return True
    if alias == "autogroup:member":
        return not member.tags
    if alias == "autogroup:tagged":
        return bool(member.tags)
    if alias.startswith("tag:"):
        return alias in member.tags
    if alias.startswith("group:"):
        return not member.tags and member.user in names.groups.get(alias, ())
    if "@" in alias:
        return not member.tags and member.user == alias
    address = names.address_of(alias)
    return address is not None and address in member.addresses


def split_dst(dst: str) -> tuple[str, int]:
    """``tag:server:22`` → (``tag:server``, 22); ``[fd7a::1]:80`` → (``fd7a::1``, 80)."""
    host, _, port = dst.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


def owner_of(address: str, members: Sequence[Member]) -> Member | None:
    """The device holding ``address``, else the router with the longest route holding it."""
    ip = ipaddress.ip_address(address)
    for m in members:
        if address in m.addresses:
            return m
    best: tuple[int, Member] | None = None
    for m in members:
        for route in m.routes:
            net = ipaddress.ip_network(route, strict=False)
            if (
                net.version == ip.version
                and ip in net
                and (best is None or net.prefixlen > best[0])
            ):
                best = (net.prefixlen, m)
    return best[1] if best else None


def auto_approved(approvers: Mapping[str, Any], route: str, member: Member, names: Names) -> bool:
    """Whether ``autoApprovers`` approves ``route`` (or the exit node) for ``member``."""
    if route in ("0.0.0.0/0", "::/0"):
        owners: Sequence[str] = approvers.get("exitNode") or ()
        return any(matches(o, member, names) for o in owners)
    net = ipaddress.ip_network(route, strict=False)
    for prefix, owners in (approvers.get("routes") or {}).items():
        approved = ipaddress.ip_network(prefix, strict=False)
        covered = approved.version == net.version and net.subnet_of(approved)  # type: ignore[arg-type]
        if covered and any(matches(str(o), member, names) for o in owners or ()):
            return True
    return False
