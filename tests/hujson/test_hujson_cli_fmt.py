"""`tailcfg policy fmt`: rewrite, --check, --diff, and never touching unparseable files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tailcfg.cli.main import main

MESSY = '{"acls":[{"action":"accept","src":["*"],"dst":["*:*"],},],\n// groups\n"groups":{}}'
TIDY = (
    "{\n"
    '\t"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],\n'
    "\t// groups\n"
    '\t"groups": {},\n'
    "}\n"
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_fmt_rewrites_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _write(tmp_path / "policy.hujson", MESSY)
    os.chmod(policy, 0o640)
    assert main(["policy", "fmt", str(policy)]) == 0
    assert policy.read_text("utf-8") == TIDY
    assert policy.stat().st_mode & 0o777 == 0o640
    assert capsys.readouterr().out == f"reformatted {policy}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.hujson"]


def test_fmt_formatted_file_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = _write(tmp_path / "policy.hujson", TIDY)
    before = policy.stat().st_mtime_ns
    assert main(["policy", "fmt", str(policy)]) == 0
    assert policy.stat().st_mtime_ns == before
    assert capsys.readouterr() == ("", "")


def test_fmt_check_names_files_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = _write(tmp_path / "a.hujson", MESSY)
    tidy = _write(tmp_path / "b.hujson", TIDY)
    assert main(["policy", "fmt", "--check", str(messy), str(tidy)]) == 1
    assert messy.read_text("utf-8") == MESSY
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == f"would reformat {messy}\n"
    assert main(["policy", "fmt", "--check", str(tidy)]) == 0


def test_fmt_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _write(tmp_path / "p.hujson", '{"a":1,\n"b":2}\n')
    assert main(["policy", "fmt", "--diff", str(policy)]) == 0
    assert policy.read_text("utf-8") == '{"a":1,\n"b":2}\n'
    assert capsys.readouterr().out == (
        f"--- {policy}\n"
        f"+++ {policy} (formatted)\n"
        "@@ -1,2 +1,4 @@\n"
        '-{"a":1,\n'
        '-"b":2}\n'
        "+{\n"
        '+\t"a": 1,\n'
        '+\t"b": 2\n'
        "+}\n"
    )


def test_fmt_never_touches_unparseable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path / "bad.hujson", '{\n  "a": 1,\n  "b": 02,\n}')
    good = _write(tmp_path / "good.hujson", MESSY)
    assert main(["policy", "fmt", str(bad), str(good)]) == 1
    assert bad.read_text("utf-8") == '{\n  "a": 1,\n  "b": 02,\n}'
    assert good.read_text("utf-8") == TIDY
    err = capsys.readouterr().err
    assert err == (
        f"{bad}:3:9: error[syntax]: invalid character '2' in numeric literal "
        "(leading zeros are not allowed)\n"
    )


def test_fmt_invalid_utf8_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bin.hujson"
    bad.write_bytes(b'{"a": "\xff"}')
    missing = tmp_path / "missing.hujson"
    assert main(["policy", "fmt", str(bad), str(missing)]) == 1
    assert bad.read_bytes() == b'{"a": "\xff"}'
    assert capsys.readouterr().err == (
        f"{bad}:1:8: error[syntax]: invalid UTF-8\n"
        f"{missing}: cannot read: No such file or directory\n"
    )


def test_fmt_crlf_file(tmp_path: Path) -> None:
    policy = tmp_path / "p.hujson"
    policy.write_bytes(b'{\r\n  "a": 1, // c\r\n}\r\n')
    assert main(["policy", "fmt", str(policy)]) == 0
    assert policy.read_bytes() == b'{\n\t"a": 1, // c\n}\n'
