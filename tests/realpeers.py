"""The real peers for tests: locate them, skip without them, fail without them in CI.

``peer_binary("headscale")`` answers the pinned binary from ``$TAILCFG_PEERS_DIR/bin``
(default: the checkout's ``.peers/bin``, where ``scripts/build-peers`` puts them). When it
is missing or the wrong version the test is skipped with the reason, except in CI
(``CI=true``), where every peer test must run: there the test fails with the same reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tailcfg.errors import PeerError
from tailcfg.peers.binaries import locate

ROOT = Path(__file__).resolve().parent.parent


def peers_dir() -> Path:
    configured = os.environ.get("TAILCFG_PEERS_DIR", "").strip()
    return Path(configured) if configured else ROOT / ".peers"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> None:
    """Skip the test with ``reason``; in CI, fail it instead (nothing may be skipped there)."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def peer_binary(name: str) -> Path:
    """The pinned ``name`` binary (headscale, tailscaled, tailscale), or skip / fail."""
    try:
        return locate(name, peers_dir())
    except PeerError as exc:
        missing(str(exc))
        raise AssertionError("unreachable") from None
