"""RFC 6479 sliding window: (sequence of counters) → which were accepted."""

from __future__ import annotations

import pytest

from tailcfg.node.replay import REJECT_AFTER_MESSAGES, WINDOW_SIZE, ReplayWindow

CASES = [
    ("in order", [0, 1, 2, 3], [True, True, True, True]),
    ("duplicate", [0, 1, 1, 0], [True, True, False, False]),
    ("reordered inside the window", [5, 3, 4, 3], [True, True, True, False]),
    ("jump then the skipped ones", [0, 100, 50, 99, 100], [True, True, True, True, False]),
    ("edge of the window", [WINDOW_SIZE + 10, 10, 9], [True, True, False]),
    ("far jump clears the ring", [1, 5000, 1, 4999], [True, True, False, True]),
    ("jump of exactly the ring", [64, 64 + 2048, 64 + 2048 - 1984], [True, True, True]),
    ("limit", [REJECT_AFTER_MESSAGES - 1, REJECT_AFTER_MESSAGES], [True, False]),
]


@pytest.mark.parametrize(
    ("counters", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_replay_window(counters: list[int], expected: list[bool]) -> None:
    window = ReplayWindow()
    assert [window.accept(c) for c in counters] == expected


def test_every_counter_once_in_a_shuffled_block_is_accepted_once() -> None:
    window = ReplayWindow()
    order = [(i * 7919) % 1000 for i in range(1000)]
    assert all(window.accept(c) for c in order)
    assert not any(window.accept(c) for c in range(1000))
