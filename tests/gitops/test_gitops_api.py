"""The public surface of tailcfg.gitops: a sorted, complete __all__."""

from __future__ import annotations

import tailcfg.gitops as gitops


def test_all_is_sorted_and_complete() -> None:
    assert list(gitops.__all__) == sorted(gitops.__all__)
    for name in gitops.__all__:
        assert hasattr(gitops, name), name
