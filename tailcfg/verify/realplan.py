"""What the real tailnet needs, read from the repository and the engine's verdicts.

Pure functions: the ports the listeners open, the addresses a router holds behind its
routes, the SSH logins (and the ``/etc/passwd`` that makes them local users inside the
namespaces), which routers' routes a node must see before its probes run.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tailcfg.inventory import Host
from tailcfg.policy.evaluate.verdicts import TestReport
from tailcfg.verify.identity import Member, Names, matches, owner_of, split_dst
from tailcfg.verify.probes import PROTOS


def test_ports(engine: TestReport) -> tuple[list[int], list[int]]:
    tcp, udp = {22}, set()
    for result in engine.results:
        if result.section != "tests":
            continue
        port = result.dst.rpartition(":")[2]
        if not port.isdigit():
            continue
        proto = PROTOS.get(result.proto)
        if proto == "udp":
            udp.add(int(port))
        elif proto in ("tcp", None):
            tcp.add(int(port))
    return sorted(tcp), sorted(udp)


def held_addresses(host: Host, names: Names) -> list[str]:
    """The policy's single-address hosts inside the host's advertised routes (it holds them)."""
    held = []
    for alias in names.hosts:
        address = names.address_of(alias)
        if address is None:
            continue
        ip = ipaddress.ip_address(address)
        for route in host.routes:
            net = ipaddress.ip_network(route, strict=False)
            if net.version == ip.version and ip in net:
                held.append(address)
    return held


def passwd_with(logins: Sequence[str]) -> tuple[str, str]:
    """``/etc/passwd`` and ``/etc/group`` of the machine plus the SSH test logins."""
    passwd = Path("/etc/passwd").read_text(encoding="utf-8")
    group = Path("/etc/group").read_text(encoding="utf-8")
    known = {line.split(":")[0] for line in passwd.splitlines() if line}
    uid = 61000
    for login in logins:
        if login in known or not login.replace("-", "").replace("_", "").isalnum():
            continue
        passwd += f"{login}:x:{uid}:{uid}:tailcfg verify:/nonexistent:/bin/sh\n"
        group += f"{login}:x:{uid}:\n"
        uid += 1
    return passwd, group


def route_needs(engine: TestReport, topology: Sequence[Any], names: Names) -> dict[str, set[str]]:
    """Node -> the routers whose routes its ``tests`` probes go through."""
    members = [
        Member(d.name, d.tags, d.user, (d.ipv4, d.ipv6), d.approved_routes) for d in topology
    ]
    needs: dict[str, set[str]] = {}
    for result in engine.results:
        if result.section != "tests":
            continue
        address = names.address_of(split_dst(result.dst)[0])
        router = owner_of(address, members) if address else None
        if router is None or address in router.addresses:
            continue
        for member in members:
            if matches(result.src, member, names):
                needs.setdefault(member.name, set()).add(router.name)
    return needs


def ssh_logins(value: Mapping[str, Any]) -> list[str]:
    logins = {"root"}
    for test in value.get("sshTests") or ():
        for key in ("accept", "check", "deny"):
            logins.update(str(x) for x in test.get(key) or ())
    return sorted(logins)
