"""``keys mint``: check offline, mint through the backend, seal with sops, replace atomically.

Order of operations, so that a crash at any moment leaves the old or the new sealed file:
preflight (tags in ``tagOwners``, a ``.sops.yaml`` rule that includes the host's recipient)
-> lock ``secrets/<host>/.tailscale.yaml.lock`` -> create the key -> ``sops encrypt`` from
stdin -> check the sealed output's recipients -> atomic rename. A key minted but not sealed
is revoked again (best effort).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tailcfg.age import ssh_pubkey_to_age
from tailcfg.atomicfile import atomic_write_bytes
from tailcfg.errors import SopsError, TailcfgError
from tailcfg.inventory import Host, Inventory, format_duration
from tailcfg.keys.backends import KeyBackend, KeyRequest, MintedKey
from tailcfg.keys.sealed import UNENCRYPTED_REGEX, SealedKey, plaintext, read_key
from tailcfg.keys.tagcheck import check_tags
from tailcfg.sops import Sops, parse_sealed
from tailcfg.sopsconfig import load_rules, rule_for

MAX_TAILSCALE_EXPIRY = 90 * 86400


@dataclass(frozen=True, slots=True)
class Plan:
    """What a mint would do, checked offline."""

    host: Host
    path: Path
    rel_path: str
    recipient: str
    recipients: tuple[str, ...]
    request: KeyRequest


@dataclass(frozen=True, slots=True)
class MintResult:
    plan: Plan
    key_id: str | None  # None for a dry run
    expires: datetime | None
    tags: tuple[str, ...]
    previous: SealedKey | None
    dry_run: bool = False


def plan_mint(inventory: Inventory, name: str, *, oauth_tags: Sequence[str] | None) -> Plan:
    """Offline checks: tags defined (and OAuth-owned), ``.sops.yaml`` rule for the host."""
    host = inventory.host(name)
    check_tags(inventory.policy, host.tags, host=name, oauth_tags=oauth_tags)
    if inventory.control.backend == "headscale" and not host.user and not host.tags:
        raise TailcfgError(f"host {name}: an untagged host needs 'user' for Headscale")
    if inventory.control.backend != "headscale" and host.key.expiry > MAX_TAILSCALE_EXPIRY:
        raise TailcfgError(
            f"host {name}: key expiry {format_duration(host.key.expiry)} exceeds the 90d"
            " that the Tailscale API allows"
        )
    recipient = ssh_pubkey_to_age(inventory.host_key(name))
    path = inventory.secrets_file(name)
    config = inventory.sops_config
    rel = os.path.relpath(path, config.parent)
    rule = rule_for(load_rules(config), rel) if config.exists() else None
    if rule is None or recipient not in rule.recipients:
        raise SopsError(
            f"{config}: no creation rule for {rel} that includes host {name}'s recipient"
            f" {recipient}; run `tailcfg hosts add {name} --ssh-host-key ...`"
        )
    request = KeyRequest(
        tags=host.tags,
        reusable=host.key.reusable,
        ephemeral=host.key.ephemeral,
        preauthorized=host.key.preauthorized,
        expiry_seconds=host.key.expiry,
        description=f"tailcfg {name}",
        user=host.user or (inventory.control.user if host.tags else None),
    )
    return Plan(host, path, rel, recipient, rule.recipients, request)


def mint_host(
    inventory: Inventory,
    name: str,
    *,
    backend: KeyBackend | None,
    sops: Sops,
    oauth_tags: Sequence[str] | None = None,
    dry_run: bool = False,
) -> MintResult:
    """Mint and seal a new key for ``name`` (replacing the file; the old key is not revoked)."""
    plan = plan_mint(inventory, name, oauth_tags=oauth_tags)
    if dry_run or backend is None:
        previous = read_key(plan.path)
        return MintResult(plan, None, None, plan.request.tags, previous, dry_run=True)
    with host_lock(plan.path):
        previous = read_key(plan.path)
        key = seal_new_key(plan, backend=backend, sops=sops)
    return MintResult(plan, key.id, key.expires, key.tags, previous)


def seal_new_key(plan: Plan, *, backend: KeyBackend, sops: Sops) -> MintedKey:
    """Create a key and seal it into ``plan.path`` (call under :func:`host_lock`)."""
    key = backend.create_key(plan.request)
    try:
        sealed = sops.encrypt(
            plaintext(key), filename=plan.path, unencrypted_regex=UNENCRYPTED_REGEX
        )
        got = parse_sealed(sealed, plan.path).recipients
        if plan.recipient not in got:
            raise SopsError(f"{plan.rel_path}: sops sealed it without the host's recipient")
        plan.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(plan.path, sealed, mode=0o644)
    except BaseException:
        with contextlib.suppress(TailcfgError):
            backend.delete_key(key.id)
        raise
    return key


@contextlib.contextmanager
def host_lock(path: Path) -> Iterator[None]:
    """Serialise mints of one host: ``flock`` on ``.<file>.lock`` beside the secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
