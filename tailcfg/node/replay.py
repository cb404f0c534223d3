"""The sliding anti-replay window of RFC 6479, as WireGuard uses it for transport counters.

A ring of 64-bit blocks: a counter far ahead clears the blocks it skips; a counter more
than ``WINDOW_SIZE`` behind the highest seen, or already seen, is rejected. Call
:meth:`ReplayWindow.accept` only after the packet authenticated.
"""

from __future__ import annotations

BLOCK_BITS = 64
RING_BLOCKS = 2048 // BLOCK_BITS
WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS
REJECT_AFTER_MESSAGES = (1 << 64) - (1 << 13) - 1


class ReplayWindow:
    __slots__ = ("_last", "_ring")

    def __init__(self) -> None:
        self._last = 0
        self._ring = [0] * RING_BLOCKS

    def accept(self, counter: int, limit: int = REJECT_AFTER_MESSAGES) -> bool:
        """Record ``counter``; False when it is too old, a replay, or past ``limit``."""
        if counter >= limit:
            return False
        block = counter >> 6
        if counter > self._last:
            current = self._last >> 6
            skip = min(block - current, RING_BLOCKS)
            for i in range(1, skip + 1):
                self._ring[(current + i) % RING_BLOCKS] = 0
            self._last = counter
        elif self._last - counter > WINDOW_SIZE:
            return False
        index = block % RING_BLOCKS
        bit = 1 << (counter & (BLOCK_BITS - 1))
        old = self._ring[index]
        self._ring[index] = old | bit
        return not old & bit
