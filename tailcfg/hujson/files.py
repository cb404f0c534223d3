"""Formatting files on disk: read, format, compare, replace atomically."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from tailcfg.atomicfile import atomic_write_bytes
from tailcfg.errors import HujsonError, TailcfgError
from tailcfg.hujson.document import decode
from tailcfg.hujson.fmt import format_text


@dataclass(frozen=True, slots=True)
class FormatResult:
    """One file's outcome. ``error`` is set when it could not be read or parsed."""

    path: Path
    original: str = ""
    formatted: str = ""
    error: TailcfgError | None = None
    written: bool = False

    @property
    def changed(self) -> bool:
        return self.error is None and self.formatted != self.original

    def diff(self) -> str:
        """A unified diff from the file to its formatted text ("" when unchanged)."""
        if not self.changed:
            return ""
        name = str(self.path)
        lines = difflib.unified_diff(
            self.original.splitlines(keepends=True),
            self.formatted.splitlines(keepends=True),
            fromfile=name,
            tofile=f"{name} (formatted)",
        )
        return "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )


def format_file(path: str | Path, *, write: bool) -> FormatResult:
    """Format one file; with ``write``, replace it (atomically) only if it changed.

    A file that cannot be read or parsed is never touched: the result carries the error.
    """
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return FormatResult(target, error=TailcfgError(f"{target}: cannot read: {reason}"))
    try:
        original = decode(data, str(target))
        formatted = format_text(original, str(target))
    except HujsonError as exc:
        return FormatResult(target, error=exc)
    if write and formatted != original:
        atomic_write_bytes(target, formatted.encode("utf-8"))
        return FormatResult(target, original, formatted, written=True)
    return FormatResult(target, original, formatted)


def format_files(paths: list[Path], *, write: bool) -> list[FormatResult]:
    return [format_file(path, write=write) for path in paths]
