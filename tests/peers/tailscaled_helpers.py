"""Helpers of the tailscaled tests: a LAN of namespaces with a real Headscale on it.

``lan_headscale(tmp)`` yields (Lan, HeadscaleServer): the bridge in the root namespace and
``headscale serve`` listening on the bridge's address, so that tailscaled in the
namespaces reaches it. Without root / ``ip`` / ``/dev/net/tun`` or the binaries the test is
skipped with the reason (failed in CI, where everything must run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from realpeers import missing, peer_binary

from tailcfg.peers.headscale import HeadscaleServer
from tailcfg.peers.netns import Lan, Namespace, missing_privileges
from tailcfg.peers.tailscaled import Tailscaled, lan_derp_map


@dataclass(frozen=True)
class Binaries:
    headscale: Path
    tailscaled: Path
    tailscale: Path


def binaries() -> Binaries:
    """The three pinned binaries, and root: skip (fail in CI) when anything is missing."""
    why = missing_privileges()
    if why is not None:
        missing(why)
    return Binaries(peer_binary("headscale"), peer_binary("tailscaled"), peer_binary("tailscale"))


@contextlib.contextmanager
def lan_headscale(tmp: Path, peers: Binaries) -> Iterator[tuple[Lan, HeadscaleServer]]:
    with (
        Lan.create() as lan,
        HeadscaleServer.start(
            tmp / "headscale",
            binary=peers.headscale,
            listen_host=lan.host_ip,
            derp_map=lan_derp_map(lan.host_ip),
        ) as hs,
    ):
        yield lan, hs


@contextlib.contextmanager
def tailscaled(lan: Lan, label: str, tmp: Path, peers: Binaries) -> Iterator[Tailscaled]:
    """A tailscaled in a new namespace of ``lan`` (stopped at the end; the Lan deletes it)."""
    ns: Namespace = lan.namespace(label)
    with Tailscaled.start(
        ns, tmp / label, tailscaled=peers.tailscaled, tailscale=peers.tailscale
    ) as node:
        yield node
