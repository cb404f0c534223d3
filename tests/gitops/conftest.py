"""Fixtures for the gitops tests: the embedded control plane on 127.0.0.1 (one per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitops_helpers import HOMELAB_USERS, Control

control_server = pytest.importorskip("tailcfg.control.server")


@pytest.fixture(scope="module")
def _control_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Control]:
    state = tmp_path_factory.mktemp("control") / "state"
    with control_server.running_control(state) as running:
        control = Control(running.url, running.admin_key, running.state_dir)
        control.add_users(*HOMELAB_USERS)
        yield control


@pytest.fixture
def control(_control_server: Control) -> Control:
    """The module's control server, its policy reset to the default (a fresh ETag history)."""
    _control_server.reset_policy()
    return _control_server


@pytest.fixture
def homelab_policy(repo_root: Path) -> str:
    return (repo_root / "examples" / "homelab" / "policy.hujson").read_text(encoding="utf-8")
