"""Read files from git objects (``REV:path``): the only module that runs git.

    read_source(spec, *, cwd=None) -> Source
        ``spec`` is a file path, or ``REV:path`` when no such file exists; the path of
        ``REV:path`` is relative to ``cwd`` (as ``git show REV:./path`` reads it).
    show(rev, path, *, cwd=None) -> str
        The contents of ``path`` (relative to ``cwd``) at ``rev``.

Errors (git missing, not a repository, unknown revision or path) raise TailcfgError
with git's own message.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tailcfg.errors import TailcfgError
from tailcfg.textfile import read_text

__all__ = ["Source", "read_source", "show", "split_spec"]


@dataclass(frozen=True, slots=True)
class Source:
    """A policy's text and the name to show for it (``path`` or ``REV:path``)."""

    text: str
    label: str


def split_spec(spec: str) -> tuple[str, str] | None:
    """``"HEAD~1:policy.hujson"`` -> ``("HEAD~1", "policy.hujson")``; None for a plain path."""
    rev, colon, path = spec.partition(":")
    return (rev, path) if colon and rev and path else None


def show(rev: str, path: str, *, cwd: Path | None = None) -> str:
    """``git show REV:./PATH`` run in ``cwd`` (the path is relative to it)."""
    git = shutil.which("git")
    if git is None:
        raise TailcfgError("git is not installed (needed to read REV:path)")
    rel = path if path.startswith(("./", "../", "/")) else f"./{path}"
    if rel.startswith("/"):
        raise TailcfgError(f"{rev}:{path}: the path must be relative to the working directory")
    proc = subprocess.run(
        [git, "show", f"{rev}:{rel}"],
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or "git show failed"
        raise TailcfgError(f"{rev}:{path}: {message}")
    try:
        return proc.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise TailcfgError(f"{rev}:{path}: not UTF-8 text") from None


def read_source(spec: str, *, cwd: Path | None = None) -> Source:
    """A file's text, or a git object's when ``spec`` is ``REV:path`` and no such file exists."""
    base = cwd or Path.cwd()
    file = base / spec
    if file.is_file():
        return Source(read_text(file, "policy", name=spec), spec)
    split = split_spec(spec)
    if split is None:
        return Source(read_text(file, "policy", name=spec), spec)
    rev, path = split
    return Source(show(rev, path, cwd=base), spec)
