"""Reading the user's text files: one positioned message for every way it can go wrong.

``read_text(path, what)`` returns the file's text, or raises ``error`` (a TailcfgError
class) saying ``PATH: cannot read WHAT: <reason>`` for a missing, unreadable or directory
path, and ``PATH:LINE:COL: WHAT is not UTF-8 text (byte 0xNN)`` for bytes that do not
decode, at the first bad byte.
"""

from __future__ import annotations

from pathlib import Path

from tailcfg.errors import TailcfgError


def not_utf8(path: str | Path, data: bytes, exc: UnicodeDecodeError, what: str) -> str:
    """The message for ``exc`` raised decoding ``data`` (the whole file) as UTF-8."""
    before = data[: exc.start]
    line = before.count(b"\n") + 1
    col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
    return f"{path}:{line}:{col}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x})"


def read_text(
    path: str | Path,
    what: str = "file",
    *,
    error: type[TailcfgError] = TailcfgError,
    name: str | None = None,
) -> str:
    """The text of ``path`` (UTF-8); ``error`` with a positioned message when it is not.

    Messages name the file ``name`` when given (as the user wrote it), else ``path``.
    """
    shown = path if name is None else name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise error(f"{shown}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(not_utf8(shown, data, exc, what)) from None


def yaml_problem(path: str | Path, exc: Exception) -> str:
    """A YAML parse error as one positioned line: ``PATH:LINE:COL: YAML: problem``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "invalid YAML"
    if mark is None:
        return f"{path}: YAML: {' '.join(str(exc).split())[:200]}"
    return f"{path}:{mark.line + 1}:{mark.column + 1}: YAML: {problem}"
