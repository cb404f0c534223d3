"""``hosts add``: a host in ``tailcfg.yaml`` and its creation rule in ``.sops.yaml``.

Both files are edited with ruamel's round trip (comments, order, anchors kept) and
replaced atomically; running it twice changes nothing the second time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from tailcfg.age import AgeKeyError, ssh_pubkey_to_age
from tailcfg.atomicfile import atomic_write_text
from tailcfg.errors import InventoryError
from tailcfg.inventory import Inventory, load_inventory
from tailcfg.sopsconfig import dump_round_trip, ensure_host_rule, guess_indent
from tailcfg.textfile import read_text

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TAG = re.compile(r"^tag:[A-Za-z0-9][A-Za-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class AddHostResult:
    name: str
    recipient: str
    inventory_changed: bool
    sops_config_changed: bool
    inventory: Inventory


def add_host(
    inventory_path: Path, name: str, *, ssh_host_key: str, tags: Sequence[str] = ()
) -> AddHostResult:
    """Add (or update) ``name``; ``ssh_host_key`` is the key text or a path to a ``.pub``."""
    if not _NAME.match(name):
        raise InventoryError(f"host name {name!r}: use lower-case letters, digits and '-'")
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        raise InventoryError(f"{', '.join(bad)}: not a tag (tag:NAME)")
    load_inventory(inventory_path)  # a wrong inventory is reported, never rewritten
    root = inventory_path.resolve().parent
    stored, key_text = _key_value(ssh_host_key, root)
    try:
        recipient = ssh_pubkey_to_age(key_text)
    except AgeKeyError as exc:
        if ssh_host_key.strip().startswith("ssh-"):
            raise
        raise InventoryError(f"{ssh_host_key}: {exc}") from None
    changed = _edit_inventory(inventory_path, name, stored, key_text, tuple(tags))
    inventory = load_inventory(inventory_path)
    sops_changed = ensure_host_rule(
        inventory.sops_config,
        host=name,
        recipient=recipient,
        admins=[admin.age for admin in inventory.admins],
        secrets_rel=os.path.relpath(inventory.secrets_dir, inventory.sops_config.parent),
    )
    return AddHostResult(name, recipient, changed, sops_changed, inventory)


def _key_value(value: str, root: Path) -> tuple[str, str]:
    """(what to store in tailcfg.yaml, the key text): a path inside the repo stays a path."""
    text = value.strip()
    if text.startswith("ssh-"):
        return text, text
    path = Path(text)
    key_text = read_text(path, "SSH host key", error=InventoryError).strip()
    resolved = path.resolve()
    if resolved.is_relative_to(root):
        return str(resolved.relative_to(root)), key_text
    return key_text, key_text


def _edit_inventory(
    path: Path, name: str, stored: str, key_text: str, tags: tuple[str, ...]
) -> bool:
    original = read_text(path, "inventory", error=InventoryError)
    data = YAML(typ="rt").load(original)
    if not isinstance(data, CommentedMap):
        raise InventoryError(f"{path}: expected a mapping")
    hosts = data.get("hosts")
    if not isinstance(hosts, CommentedMap):
        hosts = CommentedMap()
        data["hosts"] = hosts
    entry = hosts.get(name)
    if isinstance(entry, CommentedMap):
        if "ssh_host_key" not in entry:  # declared by `init --from`: the key replaces its TODO
            _drop_key_todo(hosts, name, entry)
            entry.insert(0, "ssh_host_key", stored)
        elif not _same_key(entry.get("ssh_host_key"), key_text, path.resolve().parent):
            entry["ssh_host_key"] = stored
        if tags and tuple(entry.get("tags") or ()) != tags:
            entry["tags"] = _flow(tags)
    else:
        entry = CommentedMap([("ssh_host_key", stored)])
        if tags:
            entry["tags"] = _flow(tags)
        hosts[name] = entry
    text = dump_round_trip(data, guess_indent(original))
    if text == original:
        return False
    atomic_write_text(path, text)
    try:
        load_inventory(path)
    except InventoryError:
        atomic_write_text(path, original)
        raise
    return True


def _drop_key_todo(hosts: CommentedMap, name: str, entry: CommentedMap) -> None:
    """Remove the ``# TODO: ssh_host_key`` comment `init --from` wrote above the entry's keys
    (ruamel keeps it both on the parent's item and on the entry)."""

    def kept(slot: Any) -> Any:
        if isinstance(slot, list):
            rest = [c for c in slot if not _is_key_todo(c)]
            return rest or None
        return None if _is_key_todo(slot) else slot

    for holder in (hosts.ca.items.get(name), entry.ca.comment):
        if isinstance(holder, list):
            holder[:] = [kept(slot) for slot in holder]


def _is_key_todo(token: Any) -> bool:
    return isinstance(token, CommentToken) and "TODO: ssh_host_key" in token.value


def _same_key(current: Any, key_text: str, root: Path) -> bool:
    if not isinstance(current, str):
        return False
    if current.strip().startswith("ssh-"):
        return current.split()[:2] == key_text.split()[:2]
    try:
        on_disk = (root / current.strip()).read_text(encoding="utf-8")
    except OSError:
        return False
    return on_disk.split()[:2] == key_text.split()[:2]


def _flow(items: Sequence[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq
