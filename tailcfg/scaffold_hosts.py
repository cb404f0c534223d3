"""The ``hosts:`` section ``tailcfg init --from`` writes: one host per live device.

Each device becomes a host with what the API shows (name, tags or owner, advertised
routes, exit node); what it cannot show is a TODO comment: the SSH host key (needed to seal
the host's auth key), key options, names or tags the inventory cannot hold as they are.
A string is written plain when YAML reads it back as that same string, else single-quoted
(what ruamel's round trip writes too, so a later ``hosts add`` changes only what it edits).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tailcfg.devices import Device

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^tag:[A-Za-z0-9][A-Za-z0-9-]*$")
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:/+-]*$")


def host_name(name: str) -> str:
    """A device name as an inventory host name: lower case, letters, digits and '-'."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return cleaned or "host"


def scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when that reads back as the same string."""
    if _PLAIN.match(text) and _reads_as(text) == text:
        return text
    return "'" + text.replace("'", "''") + "'"


def _reads_as(text: str) -> object:
    try:
        return YAML(typ="safe").load(f"[{text}]")[0]
    except YAMLError:
        return None


def _q(items: Sequence[str]) -> str:
    return "[" + ", ".join(scalar(i) for i in items) + "]"


def host_entry(name: str, device: Device) -> list[str]:
    lines = [f"  {name}:"]
    if name != device.name:
        lines.append(f"    # TODO: the device is named {json.dumps(device.name)} in the tailnet")
    lines += [
        "    # TODO: ssh_host_key: its ed25519 SSH host key (`tailcfg hosts add"
        f" {name} --ssh-host-key /etc/ssh/ssh_host_ed25519_key.pub` sets it and its sops rule)",
    ]
    tags = [t for t in device.tags if _TAG.match(t)]
    odd = [t for t in device.tags if not _TAG.match(t)]
    if tags:
        lines.append(f"    tags: {_q(tags)}")
    if odd:
        lines.append(f"    # TODO: tags the inventory cannot hold as they are: {_q(odd)}")
    if not device.tags:
        if device.user:
            lines.append(f"    user: {scalar(device.user)}")
        else:
            lines.append("    # TODO: user: the owner's login (the API showed none)")
    if device.subnet_routes:
        lines.append(f"    routes: {_q(device.subnet_routes)}")
    pending = [r for r in device.routable_ips if r not in device.approved_routes]
    if pending:
        lines.append(f"    # TODO: advertised, not approved yet: {_q(pending)}")
    if device.exit_node:
        lines.append("    exit_node: true")
    lines.append(
        "    # TODO: key options (reusable, ephemeral, preauthorized, expiry) are not visible"
        " in the API; defaults apply: single-use, preauthorized, 90d"
    )
    return lines


def hosts_yaml(devices: Sequence[Device]) -> list[str]:
    if not devices:
        return [
            "# Hosts: `tailcfg hosts add NAME --ssh-host-key KEY [--tag tag:NAME]` declares one.",
            "hosts: {}",
        ]
    lines = ["hosts:"]
    used: set[str] = set()
    for device in devices:
        if device.external:
            lines.append(f"  # {scalar(device.name)}: shared in from another tailnet, not declared")
            continue
        name = host_name(device.name)
        base, n = name, 2
        while name in used or not _NAME.match(name):
            name = f"{base[:60]}-{n}"
            n += 1
        used.add(name)
        lines += host_entry(name, device)
    return lines
