"""Fixtures of the control plane tests: an initialised state, a policy file, a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from control_helpers import ADMIN, POLICY

from tailcfg.control.bootstrap import init_state
from tailcfg.control.server import RunningControl, running_control
from tailcfg.control.service import Settings


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    init_state(state, admin_login=ADMIN)
    return state


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.hujson"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture
def control(state_dir: Path, policy_file: Path) -> Iterator[RunningControl]:
    settings = Settings(keepalive=5.0, ephemeral_timeout=0.5)
    with running_control(state_dir, policy_file, settings=settings) as ctl:
        yield ctl
