"""The real peers' binaries (built by ``scripts/build-peers``), found and checked.

``locate("headscale", peers_dir)`` answers ``peers_dir/bin/headscale`` when it exists, is
executable and was built from the pinned module version (read from the Go build info the
linker embeds in every Go binary, the same data ``go version -m`` prints, so Go is not
needed to check). Otherwise it raises :class:`PeerError` with one line saying what is wrong
and how to fix it (``scripts/build-peers``).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from tailcfg.errors import PeerError

TAILSCALE_VERSION = "v1.102.5"
HEADSCALE_VERSION = "v0.29.2"


@dataclass(frozen=True, slots=True)
class Pin:
    module: str
    version: str


PINS: dict[str, Pin] = {
    "tailscaled": Pin("tailscale.com", TAILSCALE_VERSION),
    "tailscale": Pin("tailscale.com", TAILSCALE_VERSION),
    "headscale": Pin("github.com/juanfont/headscale", HEADSCALE_VERSION),
}

_MAGIC = b"\xff Go buildinf:"
_HEADER = 32  # magic (14), pointer size (1), flags (1), padding to 32
_INLINE = 0x2  # flags bit: version and module info follow the header as varint strings
BUILD_HINT = "run scripts/build-peers (or make peers)"


def _varint_string(data: bytes | mmap.mmap, at: int) -> tuple[str, int]:
    length = shift = 0
    while True:
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return bytes(data[at : at + length]).decode("utf-8", "replace"), at + length


def module_versions(binary: Path) -> dict[str, str]:
    """Module path -> version of the main module and its dependencies (``mod``/``dep`` lines)."""
    info = ""
    try:
        with binary.open("rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as m:
            at = m.find(_MAGIC)
            while at >= 0 and "\nmod\t" not in info:  # the header is 16-byte aligned
                if at % 16 == 0 and m[at + 14] in (4, 8) and m[at + 15] & _INLINE:
                    _go, after = _varint_string(m, at + _HEADER)
                    info, _ = _varint_string(m, after)
                at = m.find(_MAGIC, at + 1)
    except (OSError, ValueError, IndexError):
        return {}
    versions: dict[str, str] = {}
    for line in info.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] in ("mod", "dep"):
            versions.setdefault(parts[1], parts[2])
    return versions


def locate(name: str, peers_dir: Path) -> Path:
    """``peers_dir/bin/name``, checked against its pin; PeerError when missing or wrong."""
    pin = PINS[name]
    binary = peers_dir / "bin" / name
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise PeerError(f"{name} not found at {binary}: {BUILD_HINT}")
    found = module_versions(binary).get(pin.module)
    if found != pin.version:
        have = f"built from {pin.module} {found}" if found else f"not built from {pin.module}"
        raise PeerError(f"{binary} is {have}, tailcfg needs {pin.version}: {BUILD_HINT}")
    return binary
