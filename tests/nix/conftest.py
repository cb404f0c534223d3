"""Fixtures for the Nix tests (helpers in nixcases.py)."""

from __future__ import annotations

import pytest
from nixcases import Case, render_cases


@pytest.fixture(scope="session")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """Every case rendered once, in its own temporary repository."""
    return render_cases(tmp_path_factory.mktemp("nixcases"))
