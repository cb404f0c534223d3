"""``keys status``: every host's sealed key, read without decrypting anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tailcfg.age import ssh_pubkey_to_age
from tailcfg.errors import SopsError
from tailcfg.inventory import Inventory
from tailcfg.keys.sealed import read_key


class State(StrEnum):
    OK = "ok"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    MISSING = "missing"
    NOT_DECRYPTABLE = "not-decryptable-by-host"
    INVALID = "invalid"
    NO_HOST_KEY = "no-ssh-host-key"  # declared without an SSH host key: nothing to seal for


@dataclass(frozen=True, slots=True)
class HostStatus:
    host: str
    state: State
    key_id: str = ""
    tags: tuple[str, ...] = ()
    expires: datetime | None = None
    expires_in: timedelta | None = None
    detail: str = ""

    @property
    def needs_rotation(self) -> bool:
        return self.state not in (State.OK, State.NO_HOST_KEY)


def host_status(inventory: Inventory, name: str, *, now: datetime, within: timedelta) -> HostStatus:
    host = inventory.host(name)
    path = inventory.secrets_file(name)
    if host.ssh_host_key is None and not path.exists():
        detail = f"add its key: tailcfg hosts add {name} --ssh-host-key KEY"
        return HostStatus(name, State.NO_HOST_KEY, tags=host.tags, detail=detail)
    try:
        sealed = read_key(path)
    except SopsError as exc:
        return HostStatus(name, State.INVALID, detail=str(exc))
    if sealed is None:
        return HostStatus(name, State.MISSING, detail=f"{path.name} not found")
    left = sealed.expires - now if sealed.expires else None
    base = HostStatus(name, State.OK, sealed.key_id, sealed.tags, sealed.expires, left)
    if not sealed.encrypted:
        return _with(base, State.INVALID, "tailscale_authkey is not sops-encrypted")
    if host.ssh_host_key is None:
        return _with(base, State.NOT_DECRYPTABLE, "the host has no ssh_host_key")
    recipient = ssh_pubkey_to_age(host.ssh_host_key)
    if recipient not in sealed.recipients:
        return _with(base, State.NOT_DECRYPTABLE, f"not encrypted to {recipient}")
    if left is None:
        return _with(base, State.INVALID, "no tailscale_authkey_expires")
    if left <= timedelta(0):
        return _with(base, State.EXPIRED)
    if left <= within:
        return _with(base, State.EXPIRING)
    return base


def key_status(
    inventory: Inventory, *, now: datetime, within: timedelta, hosts: tuple[str, ...] = ()
) -> list[HostStatus]:
    """Status of the named hosts (all, sorted by name, when none are named)."""
    names = hosts or tuple(sorted(inventory.hosts))
    return [host_status(inventory, name, now=now, within=within) for name in names]


def _with(base: HostStatus, state: State, detail: str = "") -> HostStatus:
    return HostStatus(
        base.host, state, base.key_id, base.tags, base.expires, base.expires_in, detail
    )
