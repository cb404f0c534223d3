"""What ``tailcfg init --from`` reads from a live tailnet: the policy as stored, and devices.

The policy comes through the GitOps client (:mod:`tailcfg.gitops.client`, as ``policy
pull``): Tailscale's API and the embedded plane hand back the stored HuJSON, comments kept;
Headscale the text it was given. The devices through :mod:`tailcfg.devices`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

from tailcfg.apiclient import Credentials, Injected
from tailcfg.devices import fetch_devices
from tailcfg.gitops.client import open_policy_client
from tailcfg.gitops.state import GitopsState, default_state_path
from tailcfg.inventory import ControlConfig
from tailcfg.scaffold import Snapshot


def fetch_snapshot(
    control: ControlConfig, *, tailnet: str, credentials: Credentials, **injected: Unpack[Injected]
) -> Snapshot:
    with open_policy_client(
        control, tailnet=tailnet, credentials=credentials, **injected
    ) as client:
        remote = client.get()
        name = client.remote
    devices = fetch_devices(control, tailnet=tailnet, credentials=credentials, **injected)
    return Snapshot(name, remote.text, remote.etag, tuple(devices))


def record_pulled(directory: Path, snapshot: Snapshot) -> bool:
    """Record the pulled policy's ETag as the repository's base (as ``policy pull`` does),
    unless it is recorded already (a second init changes nothing) or there was none."""
    if not snapshot.policy_text:
        return False
    state = GitopsState(default_state_path(directory))
    recorded = state.recorded(snapshot.remote)
    if recorded is not None and recorded.etag == snapshot.etag:
        return False
    state.record(snapshot.remote, snapshot.etag, by="pull")
    return True
