"""policy coverage: which rules tests exercise, idle tests, unused declarations, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailcfg import hujson
from tailcfg.cli.main import main
from tailcfg.policy.compile.engine import load_policy
from tailcfg.policy.coverage import (
    RENDERERS,
    CoverageReport,
    coverage_file,
    policy_coverage,
    report_json,
)

ROOT = Path(__file__).resolve().parent.parent.parent
HOMELAB = ROOT / "examples" / "homelab"

SMALL = """{
  "groups": {"group:eng": ["ann@example.com"], "group:idle": ["ben@example.com"]},
  "tagOwners": {"tag:web": ["group:eng"], "tag:gw": ["group:eng"]},
  "hosts": {"unused-host": "10.0.0.1"},
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:web"], "ip": ["tcp:443"]},
    {"src": ["group:eng"], "dst": ["tag:web"], "app": {"example.com/cap/x": [{}]}},
  ],
  "acls": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web:22"]},
  ],
  "ssh": [
    {"action": "accept", "src": ["group:eng"], "dst": ["tag:web"], "users": ["root"]},
  ],
  "tests": [
    {"src": "ann@example.com", "accept": ["tag:web:443"]},
    {"src": "tag:web", "deny": ["tag:web:22"]},
  ],
}
"""


def _small() -> CoverageReport:
    policy = load_policy(SMALL, "small.hujson")
    return policy_coverage(policy, hujson.parse(SMALL, "small.hujson"))


def _rows(report: CoverageReport) -> list[tuple[str, bool, bool, tuple[str, ...]]]:
    return [(r.rule.name, r.testable, r.covered, r.tests) for r in report.rules]


def test_homelab_whole_value() -> None:
    report = coverage_file(HOMELAB / "policy.hujson")
    assert _rows(report) == [
        ("grants[0]", True, True, ("tests[0]",)),
        ("grants[1]", True, True, ("tests[1]",)),
        ("grants[2]", True, True, ("tests[2]",)),
        ("grants[3]", True, True, ("tests[0]",)),
        ("acls[0]", True, True, ("tests[0]",)),
        ("acls[1]", True, True, ("tests[0]",)),
        ("acls[2]", True, False, ()),
        ("ssh[0]", True, True, ("sshTests[0]",)),
        ("ssh[1]", True, True, ("sshTests[1]",)),
        ("ssh[2]", True, False, ()),
    ]
    assert [t.name for t in report.idle_tests] == ["tests[3]", "sshTests[2]"]
    assert (report.covered, report.total, report.percent, report.mode) == (8, 10, 80.0, "symbolic")
    assert report.unused == ()


def test_homelab_v2_with_topology() -> None:
    report = coverage_file(HOMELAB / "policy.v2.hujson", nodes_path=HOMELAB / "nodes.json")
    assert (report.covered, report.total, report.percent, report.mode) == (9, 11, 81.8, "topology")
    assert [r.rule.name for r in report.rules if not r.covered] == ["acls[2]", "ssh[2]"]


def test_untestable_idle_and_unused() -> None:
    report = _small()
    assert _rows(report) == [
        ("grants[0]", True, True, ("tests[0]",)),
        ("grants[1]", False, False, ()),
        ("acls[0]", True, False, ()),
        ("ssh[0]", True, False, ()),
    ]
    assert (report.covered, report.total, report.percent) == (1, 3, 33.3)
    assert RENDERERS["text"](report) == (
        'small.hujson:2:48: warning[unused-group]: group "group:idle" is declared'
        " but not used by any rule\n"
        'small.hujson:3:43: warning[unused-tag]: tag "tag:gw" is declared'
        " but not used by any rule\n"
        'small.hujson:4:13: warning[unused-host]: host "unused-host" is declared'
        " but not used by any rule\n"
        "small.hujson:7:5: note[untestable-rule]: grants[1] cannot be exercised by tests"
        " (app or via grant)\n"
        "small.hujson:10:5: warning[uncovered-rule]: acls[0] is not exercised by any test\n"
        "small.hujson:13:5: warning[uncovered-rule]: ssh[0] is not exercised by any test\n"
        "small.hujson:17:5: note[test-touches-no-rule]: tests[1] touches no rule"
        " (no assertion is granted by a rule)\n"
        "small.hujson: 1 of 3 rules exercised by tests (33.3%, symbolic)\n"
    )


def test_json_shape() -> None:
    data = json.loads(RENDERERS["json"](_small()))
    assert data == report_json(_small())
    assert list(data) == ["version", "path", "mode", "summary", "rules", "idle_tests", "unused"]
    assert data["summary"] == {
        "rules": 3,
        "covered": 1,
        "percent": 33.3,
        "idle_tests": 1,
        "unused": 3,
    }
    assert data["rules"][0] == {
        "rule": "grants[0]",
        "line": 6,
        "col": 5,
        "testable": True,
        "covered": True,
        "tests": ["tests[0]"],
    }
    assert data["idle_tests"] == [{"test": "tests[1]", "line": 17, "col": 5}]
    assert [d["code"] for d in data["unused"]] == ["unused-group", "unused-host", "unused-tag"]


def test_github_annotations() -> None:
    lines = RENDERERS["github"](_small()).splitlines()
    assert lines[3] == (
        "::notice file=small.hujson,line=7,col=5,endLine=7,endColumn=83,"
        "title=tailcfg untestable-rule::grants[1] cannot be exercised by tests (app or via grant)"
    )
    assert lines[-1] == (
        "::notice title=tailcfg coverage::small.hujson: 1 of 3 rules exercised by tests "
        "(33.3%25, symbolic)"
    )


@pytest.mark.parametrize(
    ("threshold", "code"), [(None, 0), ("80", 0), ("80.1", 1), ("100", 1), ("0", 0)]
)
def test_cli_fail_under(
    threshold: str | None,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(HOMELAB)
    args = ["policy", "coverage", "policy.hujson"]
    if threshold is not None:
        args += ["--fail-under", threshold]
    assert main(args) == code
    out = capsys.readouterr().out
    assert out.endswith("policy.hujson: 8 of 10 rules exercised by tests (80.0%, symbolic)\n")


def test_cli_json_and_rejected_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(HOMELAB)
    assert main(["policy", "coverage", "policy.hujson", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["covered"] == 8
    bad = tmp_path / "bad.hujson"
    bad.write_text('{"acls": [{"action": "accept", "src": ["tag:x"], "dst": ["*:*"]}]}\n')
    assert main(["policy", "coverage", str(bad)]) == 1
    assert 'tag not found: "tag:x"' in capsys.readouterr().err
