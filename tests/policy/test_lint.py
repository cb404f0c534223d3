"""lint_text / lint_file and ``tailcfg policy lint``: golden diagnostics, exit codes, formats.

Golden files: ``tests/golden/lint/<case>.hujson`` is linted as ``<case>.hujson``; the
text rendering must equal ``<case>.txt`` (``TAILCFG_UPDATE_GOLDEN=1`` rewrites it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailcfg import outputs
from tailcfg.cli.main import main
from tailcfg.policy.validate.lint import RULES, LintResult, lint_file, lint_text
from tailcfg.source import Severity

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "lint"
CASES = sorted(p.stem for p in GOLDEN.glob("*.hujson"))
UPDATE = os.environ.get("TAILCFG_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", CASES)
def test_golden_text(case: str) -> None:
    text = (GOLDEN / f"{case}.hujson").read_text(encoding="utf-8")
    got = outputs.render_text([lint_text(text, f"{case}.hujson")])
    expected_file = GOLDEN / f"{case}.txt"
    if UPDATE:
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")


def test_golden_cases_cover_syntax_schema_rejections_and_warnings() -> None:
    codes = set()
    for case in CASES:
        text = (GOLDEN / f"{case}.hujson").read_text(encoding="utf-8")
        codes.update(d.code for d in lint_text(text, case).diagnostics)
    assert {"syntax", "duplicate-key", "schema", "unknown-field", "unused-group"} <= codes
    assert {"nested-group", "undefined-tag", "port", "ssh-dst", "check-period"} <= codes


def test_every_code_has_a_description() -> None:
    for case in CASES:
        text = (GOLDEN / f"{case}.hujson").read_text(encoding="utf-8")
        for diag in lint_text(text, case).diagnostics:
            assert diag.code in RULES, diag.code


def test_errors_come_before_warnings_and_ok_ignores_warnings() -> None:
    text = (
        '{"groups": {"group:idle": []}, "acls": [{"action": "drop", "src": ["*"], "dst": ["*:*"]}]}'
    )
    result = lint_text(text, "p.hujson")
    assert [d.severity for d in result.diagnostics] == [Severity.ERROR, Severity.WARNING]
    assert not result.ok
    assert lint_text('{"groups": {"group:idle": []}}').ok


def test_lint_file_reports_unreadable_files(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.hujson"
    latin1.write_bytes(b'{"hosts": {"caf\xe9": "10.0.0.1"}}')
    missing = tmp_path / "missing.hujson"
    results = [lint_file(latin1), lint_file(missing), lint_file(tmp_path)]
    assert [(r.path, [d.code for d in r.diagnostics]) for r in results] == [
        (str(latin1), ["io"]),
        (str(missing), ["io"]),
        (str(tmp_path), ["io"]),
    ]
    assert results[1].diagnostics[0].message == "cannot read file: No such file or directory"
    assert results[2].diagnostics[0].message == "cannot read file: Is a directory"


HOMELAB = (
    Path(__file__).resolve().parent.parent.parent / "examples" / "homelab" / "policy.hujson"
).read_text(encoding="utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(HOMELAB)),
            st.integers(min_value=0, max_value=3),
            st.text(alphabet='{}[]",:*/ \n\tabtag:groupx0123456789@.-', max_size=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_lint_never_raises_on_mutated_policies(edits: list[tuple[int, int, str]]) -> None:
    text = HOMELAB
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    result = lint_text(text, "mutant.hujson")
    assert isinstance(result, LintResult)
    for diag in result.diagnostics:
        assert diag.span.line >= 1 and diag.span.col >= 1
        assert diag.message


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_clean_file_exits_0_even_with_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "ok.hujson", '{"groups": {"group:idle": []}}')
    assert main(["policy", "lint", str(path)]) == 0
    assert capsys.readouterr().out == (
        f'{path}:1:13: warning[unused-group]: group "group:idle" is declared but not used by '
        "any rule\n1 file checked: 0 errors, 1 warning\n"
    )


def test_cli_errors_exit_1_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, "bad.hujson", '{"acls": [{"action": "drop", "src": ["*"]}]}')
    good = _write(tmp_path, "good.hujson", "{}")
    for fmt in ("text", "json", "github", "sarif"):
        assert main(["policy", "lint", "--format", fmt, str(good), str(bad)]) == 1
        out = capsys.readouterr().out
        assert 'action=\\"drop\\" is not supported' in out or 'action="drop"' in out
    assert main(["policy", "lint", "--format", "json", str(bad)]) == 1
    assert json.loads(capsys.readouterr().out) == {
        "version": 1,
        "files": [
            {
                "path": str(bad),
                "diagnostics": [
                    {
                        "severity": "error",
                        "code": "action",
                        "message": 'action="drop" is not supported',
                        "line": 1,
                        "col": 22,
                        "end_line": 1,
                        "end_col": 28,
                        "notes": [],
                    }
                ],
            }
        ],
        "summary": {"files": 1, "errors": 1, "warnings": 0, "notes": 0},
    }


def test_cli_syntax_error_and_missing_file_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _write(tmp_path, "broken.hujson", "{'a': 1}")
    assert main(["policy", "lint", "--format", "github", str(broken)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"::error file={broken},line=1,col=2,")
    assert main(["policy", "lint", str(tmp_path / "nope.hujson")]) == 1
    assert "cannot read file: No such file or directory" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [["policy", "lint"], ["policy", "lint", "--format", "xml", "x.hujson"]],
)
def test_cli_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "Usage:" in capsys.readouterr().err


def test_cli_domain_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        '{"ssh": [{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self"], '
        '"users": ["localpart:*@example.org"]}]}'
    )
    path = _write(tmp_path, "p.hujson", text)
    assert main(["policy", "lint", str(path)]) == 0
    assert main(["policy", "lint", "--domain", "example.org", str(path)]) == 0
    assert main(["policy", "lint", "--domain", "example.com", str(path)]) == 1
    assert "example.org is not associated with this Tailnet" in capsys.readouterr().out
