"""``sops check [--fix]``: every file under the secrets dir is sealed, and sealed right.

A file passes when it carries sops metadata with a MAC, every value is ``ENC[...]`` except
the keys its metadata leaves in the clear (``unencrypted_regex``/``_suffix``, or outside
``encrypted_regex``/``_suffix``), and its age recipients are exactly those of the first
``.sops.yaml`` creation rule matching its path. ``--fix`` encrypts plaintext files, runs
``sops updatekeys -y`` on a recipient mismatch and ``sops rotate`` (a new data key, written
atomically) when a recipient was removed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tailcfg.atomicfile import atomic_write_bytes
from tailcfg.errors import SopsError
from tailcfg.sops import SealedFile, Sops, read_sealed
from tailcfg.sopsconfig import CreationRule, load_rules, rule_for


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    code: str  # not-encrypted, no-mac, plaintext-value, no-rule, missing-recipient, ...
    message: str


@dataclass(frozen=True, slots=True)
class CheckReport:
    files: tuple[Path, ...]
    findings: tuple[Finding, ...]
    fixed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


def secret_files(secrets_dir: Path) -> list[Path]:
    """Regular files under ``secrets_dir``, hidden ones (locks, temp files) excluded."""
    if not secrets_dir.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(secrets_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return found


def check_secrets(
    secrets_dir: Path, config: Path, *, sops: Sops | None = None, fix: bool = False
) -> CheckReport:
    """Check (and with ``fix`` and a ``sops``, repair) every secrets file."""
    rules = load_rules(config) if config.exists() else ()
    files = secret_files(secrets_dir)
    findings: list[Finding] = []
    fixed: list[str] = []
    for path in files:
        rel = os.path.relpath(path, config.parent)
        problems = check_file(path, rel, rules)
        if problems and fix and sops is not None:
            actions = _fix(path, problems, sops)
            if actions:
                fixed += [f"{rel}: {a}" for a in actions]
                problems = check_file(path, rel, rules)
        findings += problems
    return CheckReport(tuple(files), tuple(findings), tuple(fixed))


def check_file(path: Path, rel: str, rules: tuple[CreationRule, ...]) -> list[Finding]:
    try:
        sealed = read_sealed(path)
    except SopsError:
        return [Finding(path, "not-encrypted", f"{rel}: not sops-encrypted")]
    findings = []
    if not sealed.has_mac:
        findings.append(Finding(path, "no-mac", f"{rel}: no sops MAC"))
    for key_path in _plaintext_values(sealed):
        findings.append(Finding(path, "plaintext-value", f"{rel}: {key_path} is not encrypted"))
    rule = rule_for(rules, rel)
    if rule is None:
        findings.append(Finding(path, "no-rule", f"{rel}: no .sops.yaml creation rule matches"))
        return findings
    wanted, got = set(rule.recipients), set(sealed.recipients)
    for recipient in sorted(wanted - got):
        findings.append(Finding(path, "missing-recipient", f"{rel}: not encrypted to {recipient}"))
    for recipient in sorted(got - wanted):
        message = f"{rel}: encrypted to {recipient}, which .sops.yaml does not list"
        findings.append(Finding(path, "extra-recipient", message))
    return findings


def _plaintext_values(sealed: SealedFile) -> Iterator[str]:
    meta = _metadata(sealed.path)
    for key_path, value in _leaves(sealed.data, ()):
        if _in_clear(key_path, meta):
            continue
        if value is not None and not (isinstance(value, str) and value.startswith("ENC[")):
            yield ".".join(str(k) for k in key_path)


def _metadata(path: Path) -> dict[str, str]:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return {}
    meta = data.get("sops") if isinstance(data, dict) else None
    if not isinstance(meta, dict):
        return {}
    names = ("unencrypted_regex", "unencrypted_suffix", "encrypted_regex", "encrypted_suffix")
    return {name: str(meta[name]) for name in names if meta.get(name)}


def _in_clear(key_path: tuple[Any, ...], meta: dict[str, str]) -> bool:
    """sops decides per key: a key left in the clear keeps everything under it in the clear."""
    keys = [str(k) for k in key_path if isinstance(k, str)]
    if "unencrypted_suffix" in meta:
        return any(k.endswith(meta["unencrypted_suffix"]) for k in keys)
    if "unencrypted_regex" in meta:
        return any(re.search(meta["unencrypted_regex"], k) for k in keys)
    if "encrypted_suffix" in meta:
        return not any(k.endswith(meta["encrypted_suffix"]) for k in keys)
    if "encrypted_regex" in meta:
        return not any(re.search(meta["encrypted_regex"], k) for k in keys)
    return False


def _leaves(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path, node


def _fix(path: Path, problems: list[Finding], sops: Sops) -> list[str]:
    codes = {p.code for p in problems}
    if "not-encrypted" in codes:
        sealed = sops.encrypt(path.read_bytes(), filename=path)
        atomic_write_bytes(path, sealed)
        return ["encrypted"]
    actions = []
    if codes & {"missing-recipient", "extra-recipient"}:
        sops.updatekeys(path)
        actions.append("sops updatekeys")
    if "extra-recipient" in codes:
        atomic_write_bytes(path, sops.rotate(path))
        actions.append("sops rotate (new data key)")
    return actions
