"""Positions in source files and the diagnostics that point at them.

Lines and columns count from 1. A column counts Unicode code points from the start
of the line (a tab is one column), which is what editors jump to with ``file:line:col``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of a source file: [offset, end) in characters."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    offset: int = 0
    end: int = 0

    def render(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding at one place: ``path:line:col: error[code]: message``."""

    span: Span
    message: str
    code: str = "error"
    severity: Severity = Severity.ERROR
    notes: tuple[str, ...] = field(default=())

    def render(self) -> str:
        text = f"{self.span.render()}: {self.severity.value}[{self.code}]: {self.message}"
        for note in self.notes:
            text += f"\n  note: {note}"
        return text


class LineIndex:
    """Maps character offsets of one text to (line, col), both from 1."""

    __slots__ = ("_starts", "path", "text")

    def __init__(self, text: str, path: str = "<input>") -> None:
        self.text = text
        self.path = path
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self._starts = starts

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._starts, offset) - 1
        return line + 1, offset - self._starts[line] + 1

    def span(self, start: int, end: int | None = None) -> Span:
        end = start if end is None else end
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(self.path, line, col, end_line, end_col, start, end)
