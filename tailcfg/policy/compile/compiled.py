"""What compiling a policy for a set of devices produces (JSON-ready)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CompiledNode:
    """One device's view: its packet filter (tailcfg.FilterRule list), SSH policy, peers.

    Devices share sub-objects (``SrcIPs`` and ``DstPorts`` entries, principal lists, the
    peers list of devices with the same peers): treat as read-only.
    """

    name: str
    packet_filter: list[dict[str, Any]]
    ssh_policy: dict[str, Any]
    peers: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "packet_filter": self.packet_filter,
            "ssh_policy": self.ssh_policy,
            "peers": self.peers,
        }


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """Every device's compiled view, keyed by device name (in the nodes' order)."""

    nodes: Mapping[str, CompiledNode] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"nodes": {name: node.to_json() for name, node in self.nodes.items()}}
