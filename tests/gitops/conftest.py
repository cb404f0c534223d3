"""Fixtures for the gitops tests: a fresh embedded control plane on 127.0.0.1 per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitops_helpers import HOMELAB_USERS, Control

control_server = pytest.importorskip("tailcfg.control.server")


@pytest.fixture
def control(tmp_path: Path) -> Iterator[Control]:
    with control_server.running_control(tmp_path / "control-state") as running:
        control = Control(running.url, running.admin_key, running.state_dir)
        control.add_users(*HOMELAB_USERS)
        yield control


@pytest.fixture
def homelab_policy(repo_root: Path) -> str:
    return (repo_root / "examples" / "homelab" / "policy.hujson").read_text(encoding="utf-8")
