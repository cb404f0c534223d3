"""``keys rotate`` and ``keys revoke``.

Rotate, per host and under the host's lock: mint + seal a new key, verify the new file is
encrypted to the host's recipient (and, given the host's age identity, that it decrypts to
the new key), then revoke the old key through the backend. A crash leaves the old or the
new file; at worst an old key stays valid until it expires.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ruamel.yaml import YAML

from tailcfg.errors import SopsError, TailcfgError
from tailcfg.inventory import Inventory
from tailcfg.keys.backends import KeyBackend
from tailcfg.keys.mint import Plan, host_lock, plan_mint, seal_new_key
from tailcfg.keys.sealed import SECRET_KEY, read_key
from tailcfg.keys.status import HostStatus, key_status
from tailcfg.sops import Sops


@dataclass(frozen=True, slots=True)
class RotateResult:
    host: str
    old_id: str
    new_id: str
    expires: datetime
    verified: str  # "recipient" or "decrypted"
    revoked_old: bool


@dataclass(frozen=True, slots=True)
class RevokeResult:
    host: str
    key_id: str
    removed: str


def due_hosts(
    inventory: Inventory, *, now: datetime, within: timedelta, hosts: tuple[str, ...] = ()
) -> list[HostStatus]:
    """Hosts whose key is missing, expired, expiring within ``within`` or not for the host."""
    return [
        s for s in key_status(inventory, now=now, within=within, hosts=hosts) if s.needs_rotation
    ]


def rotate_host(
    inventory: Inventory,
    name: str,
    *,
    backend: KeyBackend,
    sops: Sops,
    oauth_tags: Sequence[str] | None = None,
    host_identity: str | None = None,
) -> RotateResult:
    """Mint, seal, verify, then revoke the previous key (``host_identity``: AGE-SECRET-KEY-1...)."""
    plan = plan_mint(inventory, name, oauth_tags=oauth_tags)
    with host_lock(plan.path):
        try:
            previous = read_key(plan.path)
        except SopsError:
            previous = None  # unreadable: replace it; nothing we can revoke
        key = seal_new_key(plan, backend=backend, sops=sops)
        verified = _verify(plan, sops, key.id, host_identity)
        old_id = previous.key_id if previous else ""
        if old_id and old_id != key.id:
            backend.delete_key(old_id)
    return RotateResult(name, old_id, key.id, key.expires, verified, bool(old_id))


def rotate_all(
    inventory: Inventory,
    names: Sequence[str],
    *,
    backend: KeyBackend,
    sops: Sops,
    oauth_tags: Sequence[str] | None = None,
    identities: Mapping[str, str] | None = None,
    progress: Callable[[str], None] = lambda _name: None,
) -> list[RotateResult]:
    """Rotate each named host in turn; ``progress(name)`` is called after each one."""
    results = []
    for name in names:
        identity = (identities or {}).get(name)
        results.append(
            rotate_host(
                inventory,
                name,
                backend=backend,
                sops=sops,
                oauth_tags=oauth_tags,
                host_identity=identity,
            )
        )
        progress(name)
    return results


def revoke_host(inventory: Inventory, name: str, *, backend: KeyBackend) -> RevokeResult:
    """Revoke the host's sealed key at the server and remove the now useless file."""
    path = inventory.secrets_file(inventory.host(name).name)
    with host_lock(path):
        sealed = read_key(path)
        if sealed is None or not sealed.key_id:
            raise TailcfgError(f"host {name}: no sealed key to revoke ({path} not found)")
        backend.delete_key(sealed.key_id)
        os.unlink(path)
        _sync_dir(path.parent)
    return RevokeResult(name, sealed.key_id, str(path))


def _verify(plan: Plan, sops: Sops, key_id: str, identity: str | None) -> str:
    sealed = read_key(plan.path)
    if sealed is None or plan.recipient not in sealed.recipients:
        raise SopsError(f"{plan.rel_path}: not encrypted to host {plan.host.name}'s recipient")
    if identity is None:
        return "recipient"
    opened = YAML(typ="safe").load(sops.with_identity(identity).decrypt(plan.path))
    if not isinstance(opened, dict) or str(opened.get(f"{SECRET_KEY}_id")) != key_id:
        raise SopsError(f"{plan.rel_path}: decrypted with the host's identity, wrong key id")
    if not opened.get(SECRET_KEY):
        raise SopsError(f"{plan.rel_path}: decrypted with the host's identity, no secret")
    return "decrypted"


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
