"""Checks of input files at the edge, before the policy engine reads them.

The engine's readers take text for granted; a file that exists but is not UTF-8 is said
here, positioned at its first bad byte, instead of surfacing as a decode error.
"""

from __future__ import annotations

from pathlib import Path

from tailcfg.textfile import read_text


def check_text(path: Path | str | None, what: str) -> None:
    """TailcfgError (positioned) when ``path`` is a file that is not UTF-8 text."""
    if path is not None and Path(path).is_file():
        read_text(path, what)
