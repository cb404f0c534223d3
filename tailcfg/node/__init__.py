"""The embedded node's data plane: WireGuard in Python, packets, the packet filter.

Modules, in import order: ``crypto`` (primitives, keys) → ``noise`` (handshake messages)
→ ``replay`` → ``session`` (keypairs, timers) → ``wireguard`` (the protocol engine);
``packets`` (IP/TCP/UDP/ICMP) → ``filter`` (Tailscale FilterRule matching), ``routing``
(AllowedIPs), ``responder`` (host answers, probes) → ``device`` (asyncio UDP device).
"""

from tailcfg.node.crypto import generate_private_key, key_to_base64, parse_key, public_key
from tailcfg.node.device import (
    Counters,
    Device,
    DeviceError,
    PeerConfig,
    ProbeResult,
    parse_endpoint,
)
from tailcfg.node.filter import PacketFilter, Verdict
from tailcfg.node.wireguard import WireGuard

__all__ = [
    "Counters",
    "Device",
    "DeviceError",
    "PacketFilter",
    "PeerConfig",
    "ProbeResult",
    "Verdict",
    "WireGuard",
    "generate_private_key",
    "key_to_base64",
    "parse_endpoint",
    "parse_key",
    "public_key",
]
