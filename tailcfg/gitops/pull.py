"""``policy pull``: the remote policy, as the server stores it, written atomically.

Tailscale's API (and the embedded plane) hand back the stored HuJSON with its comments;
Headscale stores the text it was given. Pulling into the inventory's policy file records
the remote's ETag as this repository's base, so the next push is not taken for drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tailcfg.atomicfile import atomic_write_text
from tailcfg.errors import BackendError
from tailcfg.gitops.client import PolicyClient
from tailcfg.gitops.state import GitopsState


@dataclass(frozen=True, slots=True)
class PullResult:
    path: Path
    etag: str
    written: bool  # False when the file already held exactly this text
    recorded: bool  # the ETag became the recorded base


def pull_policy(
    dest: Path, *, client: PolicyClient, state: GitopsState | None = None
) -> PullResult:
    """Fetch the remote policy into ``dest``; record its ETag in ``state`` when given."""
    remote = client.get()
    if not remote.text:
        raise BackendError(f"{client.remote}: the server holds no policy to pull")
    try:
        current: str | None = dest.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        current = None
    written = current != remote.text
    if written:
        atomic_write_text(dest, remote.text)
    if state is not None:
        state.record(client.remote, remote.etag, by="pull")
    return PullResult(dest, remote.etag, written, state is not None)
