"""Fixtures for the tests against real peers: the binaries and a running Headscale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from realpeers import peer_binary

from tailcfg.peers.headscale import HeadscaleServer


@pytest.fixture(scope="session")
def headscale_binary() -> Path:
    return peer_binary("headscale")


@pytest.fixture(scope="session")
def headscale_server(
    headscale_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HeadscaleServer]:
    """One real ``headscale serve`` for the session (tests make their own users)."""
    with HeadscaleServer.start(tmp_path_factory.mktemp("headscale"), binary=headscale_binary) as hs:
        yield hs
