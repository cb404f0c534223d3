"""Positions of values and member names without building the CST.

For a text the fast path accepted, comments and trailing commas are blanked to spaces
of the same length (so every offset is the original one) and containers are listed on
demand with the json module's C scanner. Each container is listed once and cached, so
a lookup costs about one ``json.loads`` of the containers on its path, not a CST build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from tailcfg.hujson import fast

_WS = re.compile(r"[ \t\r\n]*+")
# The json module's C scanner and string decoder (not in typeshed's stubs).
_scan_once: Callable[[str, int], tuple[Any, int]] = getattr(json.JSONDecoder(), "scan_once")  # noqa: B009
scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009

Extent = tuple[int, int]  # [start, end) character offsets
Item = tuple[Extent | None, Extent]  # (name extent or None for an element, value extent)
Step = str | int


def blanked(text: str) -> str:
    """``text`` with comments and trailing commas as spaces: same length, plain JSON.

    Only valid for a text that the fast path accepted (every regex match is then a
    real comment or trailing comma, never part of a string).
    """
    if "/" in text:
        text = fast.COMMENT.sub(lambda m: " " * (m.end() - m.start()), text)
    if "," in text:
        text = fast.TRAILING_COMMA.sub(" ", text)
    return text


class _Listing:
    """The items of one container, scanned lazily up to the one asked for."""

    __slots__ = ("closer", "done", "elements", "members", "pos")

    def __init__(self, text: str, start: int) -> None:
        self.closer = "}" if text[start] == "{" else "]"
        self.members: dict[str, Item] = {}
        self.elements: list[Item] = []
        self.pos = _skip(text, start + 1)
        self.done = text[self.pos] == self.closer

    def find(self, text: str, step: Step) -> Item | None:
        if self.closer == "}":
            if not isinstance(step, str):
                return None
            while step not in self.members and not self.done:
                self._next(text)
            return self.members.get(step)
        if not isinstance(step, int):
            return None
        if step < 0:
            while not self.done:
                self._next(text)
        while step >= len(self.elements) and not self.done:
            self._next(text)
        return self.elements[step] if -len(self.elements) <= step < len(self.elements) else None

    def _next(self, text: str) -> None:
        i = self.pos
        if self.closer == "}":
            key, key_end = scanstring(text, i + 1)
            begin = _skip(text, _skip(text, key_end) + 1)
            end = _scan_once(text, begin)[1]
            self.members[key] = ((i, key_end), (begin, end))
        else:
            end = _scan_once(text, i)[1]
            self.elements.append((None, (i, end)))
        i = _skip(text, end)
        if text[i] == ",":
            i = _skip(text, i + 1)
        self.pos = i
        self.done = text[i] == self.closer


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


class SpanIndex:
    """Looks up the extent of the value (and member name) at a JSON path."""

    __slots__ = ("_cache", "_root", "_text")

    def __init__(self, text: str) -> None:
        self._text = blanked(text)
        start = _skip(self._text, 0)
        # The text is valid: the root value ends where the trailing whitespace starts.
        self._root: Extent = (start, len(self._text.rstrip(" \t\r\n")))
        self._cache: dict[int, _Listing] = {}

    def locate(self, path: tuple[Step, ...]) -> Item:
        """(name extent, value extent) of the deepest existing value along ``path``."""
        name: Extent | None = None
        value = self._root
        for step in path:
            start = value[0]
            if self._text[start] not in "{[":
                break
            listing = self._cache.get(start)
            if listing is None:
                listing = self._cache[start] = _Listing(self._text, start)
            found = listing.find(self._text, step)
            if found is None:
                break
            name, value = found
        return name, value
