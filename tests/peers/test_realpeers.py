"""realpeers: a missing peer skips the test with the reason, except in CI, where it fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from realpeers import in_ci, peer_binary, peers_dir


def test_missing_peer_skips_outside_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILCFG_PEERS_DIR", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    assert (peers_dir(), in_ci()) == (tmp_path, False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        peer_binary("tailscaled")
    assert str(skipped.value) == (
        f"tailscaled not found at {tmp_path / 'bin' / 'tailscaled'}:"
        " run scripts/build-peers (or make peers)"
    )


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_peer_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TAILCFG_PEERS_DIR", str(tmp_path))
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception) as failed:
        peer_binary("headscale")
    assert str(failed.value) == (
        f"CI=true but headscale not found at {tmp_path / 'bin' / 'headscale'}:"
        " run scripts/build-peers (or make peers)"
    )


def test_default_is_the_checkout(monkeypatch: pytest.MonkeyPatch, repo_root: Path) -> None:
    monkeypatch.delenv("TAILCFG_PEERS_DIR", raising=False)
    assert peers_dir() == repo_root / ".peers"
