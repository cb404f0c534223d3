"""Fixtures of the console tests: an initialised control state and its policy file."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import ADMIN, POLICY

from tailcfg.control.bootstrap import init_state


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
