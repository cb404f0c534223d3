"""Fixtures for the keys tests: the loopback fake API and a copy of examples/homelab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.homelab import copy_homelab
from fakes.tailscale_api import RunningServer, serve

from tailcfg.inventory import Inventory, load_inventory


@pytest.fixture(scope="session")
def _fake_api_server() -> Iterator[RunningServer]:
    with serve() as server:
        yield server


@pytest.fixture
def fake_api(_fake_api_server: RunningServer) -> RunningServer:
    """The loopback API (one uvicorn for the session), in a fresh state for each test."""
    _fake_api_server.state.reset()
    return _fake_api_server


@pytest.fixture
def homelab(repo_root: Path, tmp_path: Path, fake_api: RunningServer) -> Inventory:
    return load_inventory(copy_homelab(repo_root, tmp_path / "homelab", fake_api.url))
