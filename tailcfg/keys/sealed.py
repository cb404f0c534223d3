"""``secrets/<host>/tailscale.yaml``: the sealed auth key and its clear metadata.

``tailscale_authkey`` is encrypted; ``tailscale_authkey_id``, ``_expires`` and ``_tags``
stay readable (sops ``unencrypted_regex``, which sops-nix reads like any sops file) so that
``keys status`` needs no key. sops' MAC still covers them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml import YAML

from tailcfg.errors import SopsError
from tailcfg.keys.backends import MintedKey, format_time, parse_time
from tailcfg.sops import SealedFile, read_sealed

SECRET_KEY = "tailscale_authkey"
UNENCRYPTED_REGEX = r"^tailscale_authkey_(id|expires|tags)$"


@dataclass(frozen=True, slots=True)
class SealedKey:
    path: Path
    key_id: str
    expires: datetime | None
    tags: tuple[str, ...]
    recipients: tuple[str, ...]
    encrypted: bool  # the secret is ENC[...] and a MAC is present


def plaintext(key: MintedKey) -> bytes:
    """The YAML handed to sops on stdin (held in memory only)."""
    yaml = YAML(typ="safe")
    yaml.default_flow_style = None
    out = io.StringIO()
    yaml.dump(
        {
            SECRET_KEY: key.secret,
            f"{SECRET_KEY}_id": key.id,
            f"{SECRET_KEY}_expires": format_time(key.expires),
            f"{SECRET_KEY}_tags": list(key.tags),
        },
        out,
    )
    return out.getvalue().encode()


def read_key(path: Path) -> SealedKey | None:
    """The clear metadata of a sealed key file; None if the file does not exist."""
    if not path.exists():
        return None
    return from_sealed(read_sealed(path))


def from_sealed(sealed: SealedFile) -> SealedKey:
    secret = sealed.value(SECRET_KEY)
    if secret is None:
        raise SopsError(f"{sealed.path}: no {SECRET_KEY} in the file")
    tags = sealed.value(f"{SECRET_KEY}_tags") or ()
    return SealedKey(
        path=sealed.path,
        key_id=str(sealed.value(f"{SECRET_KEY}_id") or ""),
        expires=_when(sealed.value(f"{SECRET_KEY}_expires")),
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        recipients=sealed.recipients,
        encrypted=str(secret).startswith("ENC[") and sealed.has_mac,
    )


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):  # an unquoted timestamp loads as a datetime
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return parse_time(str(value or ""))
