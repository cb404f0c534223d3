"""Each host's auth key, the way the host gets it: minted, sealed with sops, decrypted as the host.

For one inventory host: mint a key with the host's options through the control plane's
Tailscale v2 API, seal it with the real sops binary into the temporary copy of the secrets
tree (``.sops.yaml`` picks the recipients: admins + the host), decrypt it with the age
identity converted from the host's SSH host private key (as sops-nix does on the host), and
write the key to the node's ``authKeyFile`` (mode 0600). Nothing here logs a secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tailcfg.age import AgeKeyError, ssh_private_key_to_age, ssh_pubkey_to_age
from tailcfg.atomicfile import atomic_write_bytes, atomic_write_text
from tailcfg.errors import BackendError, SopsError, TailcfgError, VerifyError
from tailcfg.inventory import Host, Inventory
from tailcfg.keys.backends import KeyBackend, KeyRequest
from tailcfg.keys.sealed import SECRET_KEY, UNENCRYPTED_REGEX, plaintext
from tailcfg.sops import Sops, parse_sealed

KeyRequestFor = Callable[[Host], KeyRequest]


def host_key_request(host: Host) -> KeyRequest:
    """The key ``keys mint`` would ask for: the host's tags and key options."""
    return KeyRequest(
        tags=host.tags,
        reusable=host.key.reusable,
        ephemeral=host.key.ephemeral,
        preauthorized=host.key.preauthorized,
        expiry_seconds=host.key.expiry,
        description=f"tailcfg verify {host.name}",
        user=host.user,
    )


@dataclass(frozen=True, slots=True)
class HostKey:
    """Where the decrypted key of a host was written, and what was asked for."""

    host: str
    auth_key_file: Path
    request: KeyRequest
    sealed: bool = True  # False: the host has no SSH host key, the key was handed over as is


def host_private_key(directory: Path, template: str, host: str) -> Path:
    """The host's SSH host private key: ``template`` with ``{host}``, relative to the repo."""
    path = Path(template.replace("{host}", host))
    return path if path.is_absolute() else directory / path


def bootstrap_host(
    inventory: Inventory,
    host: Host,
    *,
    backend: KeyBackend,
    sops: Sops,
    private_key: Path,
    out_dir: Path,
    key_request: KeyRequestFor = host_key_request,
) -> HostKey:
    """Mint, seal, decrypt as the host, write ``out_dir/<host>/authkey``; VerifyError if not."""
    name = host.name
    request = key_request(host)
    try:
        key = backend.create_key(request)
    except (BackendError, TailcfgError) as exc:
        raise VerifyError(
            f"host {name}: the control plane refused to mint its key: {exc}"
        ) from None
    target = out_dir / name / "authkey"
    if host.ssh_host_key is None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_text(target, key.secret + "\n", mode=0o600)
        return HostKey(name, target, request, sealed=False)
    path = inventory.secrets_file(name)
    rel = path.relative_to(inventory.root_dir)
    try:
        sealed = sops.encrypt(plaintext(key), filename=path, unencrypted_regex=UNENCRYPTED_REGEX)
    except SopsError as exc:
        raise VerifyError(
            f"host {name} cannot decrypt its key: sops could not seal {rel} ({exc})"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, sealed, mode=0o644)
    secret = decrypt_as_host(host, sops, path, rel, private_key)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(target, secret + "\n", mode=0o600)
    return HostKey(name, target, request)


def decrypt_as_host(host: Host, sops: Sops, path: Path, rel: Path, private_key: Path) -> str:
    """The auth key in ``path``, decrypted with the age identity converted from the host's
    SSH host private key (as sops-nix does on the host); VerifyError if it cannot."""
    name = host.name
    try:
        identity = ssh_private_key_to_age(private_key.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VerifyError(
            f"host {name}: cannot read its SSH host private key {private_key}: {exc.strerror}"
        ) from None
    except AgeKeyError as exc:
        raise VerifyError(f"host {name}: {private_key}: {exc}") from None
    try:
        plain = sops.with_identity(identity).decrypt(path)
    except SopsError:
        recipients = ", ".join(parse_sealed(path.read_bytes(), path).recipients) or "nobody"
        own = ""
        with contextlib.suppress(AgeKeyError):
            own = f" ({ssh_pubkey_to_age(host.ssh_host_key)})" if host.ssh_host_key else ""
        raise VerifyError(
            f"host {name} cannot decrypt its key: {rel} is sealed for {recipients}, not for "
            f"the host's recipient{own}; add it to the creation rule in .sops.yaml"
        ) from None
    try:
        data = YAML(typ="safe").load(plain)
    except YAMLError:
        data = None
    value = data.get(SECRET_KEY) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise VerifyError(f"host {name}: {rel} decrypts but holds no {SECRET_KEY}")
    return value
