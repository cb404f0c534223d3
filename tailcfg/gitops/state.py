"""The last-pushed ETag per remote: a small JSON file, written atomically.

Like gitops-pusher's version cache, it lets ``push`` tell a remote edited outside the
repository (its ETag is not the one this repository last wrote) from one that is merely
behind. The default place is ``.tailcfg/gitops-state.json`` beside ``tailcfg.yaml``::

    {"version": 1,
     "remotes": {"tailscale https://api.tailscale.com example.com":
                 {"etag": "<sha256 hex>", "recorded": "2026-01-02T03:04:05Z", "by": "push"}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailcfg.atomicfile import atomic_write_text
from tailcfg.errors import TailcfgError
from tailcfg.textfile import read_text

STATE_FILE = Path(".tailcfg") / "gitops-state.json"
VERSION = 1


@dataclass(frozen=True, slots=True)
class Recorded:
    etag: str
    recorded: str
    by: str  # "push" or "pull"


def default_state_path(inventory_dir: Path) -> Path:
    return inventory_dir / STATE_FILE


class GitopsState:
    """The recorded ETags in one state file (read on creation, written by ``record``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._remotes = _read(path)

    def recorded(self, remote: str) -> Recorded | None:
        entry = self._remotes.get(remote)
        if not isinstance(entry, dict) or not isinstance(entry.get("etag"), str):
            return None
        return Recorded(entry["etag"], str(entry.get("recorded", "")), str(entry.get("by", "")))

    def record(self, remote: str, etag: str, *, by: str, now: datetime | None = None) -> None:
        """Remember ``etag`` as the last version this repository wrote or adopted."""
        moment = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._remotes[remote] = {"etag": etag, "recorded": moment, "by": by}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"version": VERSION, "remotes": dict(sorted(self._remotes.items()))}
        atomic_write_text(self.path, json.dumps(body, indent=2) + "\n")


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    text = read_text(path, "the gitops state")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TailcfgError(f"{path}: the gitops state is not JSON ({exc.msg})") from None
    remotes = data.get("remotes") if isinstance(data, dict) else None
    if not isinstance(remotes, dict):
        raise TailcfgError(f"{path}: the gitops state has no 'remotes' object")
    return dict(remotes)
