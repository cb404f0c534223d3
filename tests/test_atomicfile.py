import stat
from pathlib import Path

import pytest

from tailcfg.atomicfile import atomic_write_bytes, atomic_write_text


def test_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    target.chmod(0o600)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_new_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "g.bin"
    atomic_write_bytes(target, b"\x00\x01", mode=0o640)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_failure_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "x"
    with pytest.raises(FileNotFoundError):
        atomic_write_text(target, "data")
    assert list(tmp_path.iterdir()) == []
